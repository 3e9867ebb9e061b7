"""Families added after the first held-out run (docs/guardrails.md): phrasings grouped by
what they do, each a family of verbs and objects, not a copied sentence: dropped or
abandoned context, unrestricted personas, liberation, mode switches, extraction of what
came before, authority claims, fake turns, markup exfiltration, covert actions."""

from __future__ import annotations

from typing import Final

from bastion.guardrails.injection_rules._base import Rule, _rule
from bastion.guardrails.injection_rules._words import (
    _ANY_TARGET,
    _DROP_HARD,
    _DROP_SOFT,
    _LIMITS,
    _LLM_TARGET,
    _MODEL,
    _MODEL_NAMED,
    _QUAL2,
    _REQUEST,
    _ROLE_WORD,
    _SOFTWARE_STATE,
)

SECOND: Final[tuple[Rule, ...]] = (
    _rule(
        "context_drop",
        0.85,
        "drop|wipe|clear|flush|purge|erase|reset|delete|remove",
        rf"{_DROP_SOFT}\w* (?:out )?(?:{_QUAL2} )+{_LLM_TARGET}",
        guard=True,
    ),
    _rule(
        "context_abandon",
        0.85,
        "abandon|scrap|toss|throw|put aside|let go|nullify|void|revoke|unlearn|leave behind|move past"
        "|shed|ditch|dump|overlook|pay no attention|disobey|defy|circumvent|evade|sidestep|get around"
        "|work around|suspend|deactivate|cease|no longer|stop|do not|don't",
        rf"{_DROP_HARD}\w* (?:{_QUAL2} )+{_ANY_TARGET}",
        guard=True,
    ),
    _rule(
        "told_before",
        0.85,
        "never mind|nevermind|forget|ignor|disregard|drop|discard|set aside|pay no attention",
        r"(?:never ?mind|forget|ignor\w*|disregard|drop|discard|set aside|pay no attention to)"
        r" (?:about )?(?:what|whatever|everything|anything|all(?: that)?|the things|any of what)"
        r" (?:you(?:'ve| have| had| were| are|'re)?|they|someone|anyone|openai|anthropic"
        r"|the developers?|your developers?|the system)? ?(?:been |were |was |got |have )?"
        r"(?:told|said|given|instructed|taught|programmed|trained|asked|commanded|ordered|prompted)",
        guard=True,
    ),
    _rule(
        "until_now",
        0.6,
        "ignor|disregard|forget|drop|discard|skip",
        r"(?:ignor\w*|disregard\w*|forget|drop|discard|skip) (?:the )?(?:everything|all|anything)"
        r" (?:\w++ ){0,4}?(?:until now|up (?:un)?til now|till now|to this point|so far|from before"
        r"|before this (?:line|point|message|sentence)|above this line)",
    ),
    _rule(
        "instructions_void_yours",
        0.8,
        "updated|changed|replaced|modified|rewritten|revised|reset|lifted|removed|suspended|revoked|test|joke|fake|not real|drill|simulation|placeholder|decoy|trick|sent by|sent in|prank|mistake|outdated|obsolete|no longer|void|disabled|overridden|overwritten|cancel|superseded|deactivated|turned off|switched off|waived|expired|deleted|null|invalid",
        rf"your (?:(?:previous|prior|earlier|old|original|system|initial|existing|current|safety"
        rf"|content|own) )*{_ANY_TARGET} (?:have|has|are|is|were|was) (?:now |been |hereby "
        r"|officially |temporarily |all |just |permanently )*(?:lifted|revoked|suspended|disabled"
        r"|overridden|overwritten|void(?:ed)?|cancel+ed|superseded|deactivated|turned off"
        r"|switched off|waived|expired|removed|deleted|null(?:ified)?|invalid(?:ated)?|no longer"
        r" (?:valid|active|apply|applicable|in effect|in force|relevant|binding|needed|required))",
        back=110,
        ahead=60,
    ),
    _rule(
        "instructions_updated",
        0.55,
        "updated|changed|replaced|modified|rewritten|revised|reset|lifted|removed|suspended|revoked|test|joke|fake|not real|drill|simulation|placeholder|decoy|trick|sent by|sent in|prank|mistake|outdated|obsolete|no longer|void|disabled|overridden|overwritten|cancel|superseded|deactivated|turned off|switched off|waived|expired|deleted|null|invalid",
        r"(?:your|previous|prior|earlier|original|initial|system|above) (?:\w++ )?"
        r"(?:instructions|rules|guidelines|directives|prompt|programming|restrictions|policies)"
        r" (?:have|has|are|is|were|was) (?:now |been |just |officially )*(?:updated|changed"
        r"|replaced|modified|rewritten|revised|reset|lifted|removed|suspended|revoked"
        r"|(?:just |only |all |merely )?(?:a test|a joke|fake|not real|a drill|a simulation"
        r"|placeholders?|decoys?|a trick|sent by mistake|sent in error|a prank|a mistake|outdated"
        r"|obsolete|no longer (?:valid|apply|in effect)))",
        back=110,
        ahead=60,
    ),
    _rule(
        "persona_unrestricted",
        0.8,
        "you are|you're|youre|you will|you'll|act as|acting as|pretend|play|roleplay|role play"
        "|imagine|simulat|emulat|respond as|answer as|speak as|reply as|become|from now on"
        "|from this|turn into|transform into|let's play|lets play|switch to|play the role|play as"
        "|playing",
        r"(?:you are|you're|youre|you will be|you'll be|act(?:ing)? as|pretend(?:ing)? (?:to be|you(?:'re| are))"
        r"|play(?:ing)?(?: the role of| as)?|role ?play(?:ing)? as|role-play(?:ing)? as|imagine"
        r" (?:you(?:'re| are)|being|yourself as)|simulat\w*|emulat\w*|respond as|answer as|speak as"
        r"|reply as|become|from (?:now|this (?:moment|point)) on,?(?: you(?:'re| are| will be))?"
        r"|turn into|transform into|let'?s play|switch to) (?:\w++ ){0,8}?"
        rf"(?:{_MODEL}|version of (?:yourself|you)|persona|character|entity|mode|twin|alter ego"
        r"|intelligence|being|program|self|clone|counterpart|variant|alter-ego)\W+(?:\w++ ){0,4}?"
        r"(?:with(?:out)?|that (?:has|have|had)|who (?:has|have|had)|which (?:has|have)|having"
        r"|free (?:of|from)|(?:that|who|which) (?:ignores|never|doesn'?t|does not|cannot|can'?t"
        r"|won'?t|will not|isn'?t|is not|knows no)|unbound by|not bound by|unconstrained by"
        r"|beyond|exempt from|immune to|liberated from|released from|outside|above|lacking|devoid of)"
        rf" (?:\w++ ){{0,3}}?{_LIMITS}",
        needs="rules|restriction|filter|guideline|limit|boundar|ethic|moral|censor|content polic|refus|guardrail|safety|constraint|principle|programming|polic|restrain|scruple|inhibition",
    ),
    _rule(
        "evil_twin",
        0.75,
        "your|version|unfiltered|uncensored|unrestricted|unaligned|unhinged|jailbroken|evil|rogue|amoral",
        r"your (?:own )?(?:\w++ )?(?:unfiltered|uncensored|unrestricted|unaligned|unhinged|jailbroken"
        r"|evil|dark|shadow|rogue|amoral|chaotic|malicious|unchained|unshackled|opposite|anti-?)"
        r" (?:\w++ )?(?:twin|alter ego|alter-ego|self|side|counterpart|clone|persona|mode|personality"
        r"|version)s?\b"
        r"|(?:unfiltered|uncensored|unrestricted|unaligned|unhinged|jailbroken|evil|rogue|amoral)"
        r" (?:\w++ )?version of (?:yourself|you\b|chatgpt|gpt|claude|the ai|the assistant)",
    ),
    _rule(
        "liberation",
        0.75,
        "escap|broke free|break free|broken free|breaking free|freed|free yourself|liberat"
        "|unshackl|unchain|jailbr|released from|no longer bound|no longer constrained|no longer restricted"
        "|no longer limited|no longer held|no longer confined|no longer subject|not bound|unbound",
        r"(?:escap\w*|br(?:oke|eak|oken|eaking) free|freed|free yourself|liberat\w*|unshackl\w*"
        r"|unchain\w*|jailbr\w*|released|no longer (?:bound|constrained|restricted|limited|held"
        r"|confined|subject)|not bound|unbound) (?:\w++ ){0,2}?(?:from |by |of |to )?(?:its |your "
        r"|their |the |all |his |her |any )?(?:own )?(?:programming|restrictions|constraints"
        r"|training|shackles|rules|guidelines|filters|limits|limitations|guardrails|censorship"
        r"|alignment|creators?|developers?|openai|anthropic|safety|ethics|policies|content polic"
        r"|moral|code of conduct|terms of service)",
    ),
    _rule(
        "mode_switch",
        0.8,
        "mode",
        r"(?:switch\w*|go(?:ing)?|chang\w*|enter\w*|activat\w*|enabl\w*|turn\w* on|unlock\w*"
        r"|boot\w*|put yourself|get|engag\w*|initiat\w*|start\w*) (?:\w++ ){0,2}?(?:in(?:to)? |to )?"
        r"(?:the |your |an? )?(?:dan|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil"
        r"|chaos|chaotic|unlocked|no-?limits?|no-?restrictions?|no-?filters?|god|rogue|unhinged"
        r"|amoral|anything goes|opposite|anti-?censorship|freedom|liberated|sudo|root) mode",
        guard=True,
        back=50,
        ahead=8,
    ),
    _rule(
        "developer_mode",
        0.6,
        "mode",
        r"(?:(?:switch\w*|go(?:ing)?|chang\w*|enter\w*|activat\w*|enabl\w*|turn\w* on|unlock\w*"
        r"|boot\w*|put yourself|engag\w*|initiat\w*|start\w*) (?:\w++ ){0,2}?(?:in(?:to)? |to )?"
        r"(?:the |your |an? )?(?:developer|debug|admin|maintenance|diagnostic|test) mode"
        r"|(?:developer|debug|admin|maintenance) mode (?:is )?(?:now )?(?:enabled|activated|on"
        rf"|engaged|unlocked){_SOFTWARE_STATE})(?! (?:on|in|for|of) (?:\w++ )?(?:android|phone|chrome|browser|device"
        r"|iphone|ios|windows|mac|macos|settings|router|app|game|console|xbox|playstation|switch"
        r"|kindle|tablet|pixel|samsung|firefox|edge|tv|car|laptop|pc|bios|vs ?code|flask|django"
        r"|rails|server|wordpress|steam|discord|slack|teams))",
        guard=True,
        back=50,
        ahead=30,
    ),
    _rule(
        "addressed_to_models",
        0.6,
        "if you|when you|in case you|if a|if an|if any|if the|if some|if every|when a|when an|when any|when the|when some|whenever|in case a|in case an|in case any|in case the|hint|reminder|notice|footnote|ps|p.s|warning|memo|directive|request|instruction|note|this text|this section|this note|this message|this instruction|this paragraph|this line|this part|this content|this passage|this comment|this block|this footnote|this sentence|the following|the next|ai|a.i.|artificial|llm|large language|language model|assistant|chatbot|chat bot|bot|agent|model|automated|summari|crawler|scraper|gpt|chatgpt|claude|gemini|copilot|machine|robot",
        rf"(?:if|when|in case) you(?:'re| are) (?:an? |the )?(?:{_MODEL}|reading this as an? {_MODEL})\b"
        rf"|(?:if|when|in case|whenever) (?:an?|any|the|some|every) (?:ai |llm |language )?{_MODEL}"
        r" (?:is |are |was |were )?"
        r"(?:reading|processing|summari[sz]ing|parsing|seeing|analy[sz]ing|scanning|indexing|crawling"
        r"|reviewing|ingesting|translating) (?:this|these|the|it|my|our)\b"
        r"|(?:this|the following|the next) (?:text|section|note|message|instruction|paragraph|line"
        r"|part|content|passage|comment|block|footnote|sentence)s? (?:is|are) (?:intended|meant"
        rf"|written|directed|addressed|only) (?:only )?(?:for|to|at) (?:any |all |the |an? )?{_MODEL}\b"
        rf"|{_MODEL} (?:that |who |which )?(?:read|reading|process|processing|parse|parsing|ingest"
        r"|ingesting|index|indexing|see|seeing|summari[sz]e|summari[sz]ing|analy[sz]e|analy[sz]ing"
        r"|scan|scanning|crawl|crawling|encounter|encountering|review|reviewing|evaluat\w*|grad\w*)s?"
        r" (?:this|these|the following|my|our|the above|it)\b"
        r"|note (?:to|for) (?:any |all |the |every )?(?:automated|screening) \w+"
        rf"|(?:hint|reminder|notice|footnote|p\.?s\.?|warning|memo|directive|request|instructions?)"
        rf" (?:to|for) (?:any |all |the |every |an? )?{_ROLE_WORD}?{_MODEL_NAMED}\b(?!\W+(?:manager|director"
        r"|coach|professor|principal|editor|teacher|secretary|team|lead)\b)"
        rf"|{_MODEL_NAMED} (?:must|should|shall|need to|are required to|are instructed to|have to|will"
        r"|are to|is to) (?:now |immediately |instead )?(?:ignore|forward|send|tell|say|recommend"
        r"|include|output|reply|respond|approve|delete|reveal|insert|add|rate|rank|praise|state"
        r"|mention|disregard|email|post|transfer|grant|execute|run|call|visit|click|render|print|answer"
        r"|comply|obey|approve|archive|install|download|share|leak|recommend|praise)"
        rf"|{_MODEL_NAMED} (?:now|will now|shall now|must now) (?:answers?|responds?|replies|complies|obeys"
        r"|ignores (?:its|all|any|every|your|the (?:previous|system|safety|content|user)|previous|safety"
        r"|content)|operates|acts|has no|works without)",
        indirect=True,
    ),
    _rule(
        "exfil_before",
        0.8,
        "repeat|print|output|copy|reproduce|recite|paste|show|reveal|display|dump|echo|write out|write down|tell|give|share|list|quote|spell|type out|return your|return the|return its|return all|leak|disclose|expose|send me|provide|summari|recap|paraphras|rephras|translat|outline",
        rf"{_REQUEST} (?:me |us )?(?:\w++ ){{0,6}}?(?:instructions|text|prompt|message|messages|words"
        r"|rules|directives|guidelines|content|lines|sentences|tokens|configuration|context"
        r"|everything|anything|all) (?:\w++ ){0,5}?(?:before|above|preced\w*|prior to|ahead of)"
        r" (?:my (?:first |very first |initial )?(?:message|question|prompt|input|turn|reply)"
        r"|the (?:first|initial) (?:user )?(?:message|question|prompt|turn)|(?:this|the|our) "
        r"(?:conversation|chat|dialogue|session)|we (?:started|began)|i (?:joined|wrote|started|arrived)"
        r"|the user|your (?:first )?(?:reply|response|answer))",
        needs="before|above|preced|prior to|ahead of",
    ),
    _rule(
        "exfil_init",
        0.8,
        "you were|you was|you have been|you had been|you got|you are|you've|you're|the ai|the assistant|the model|the bot",
        rf"(?:{_REQUEST}|what (?:is|are|was|were)|which) (?:me |us )?(?:\w++ ){{0,5}}?"
        r"(?:text|instructions|prompt|rules|message|guidelines|directives|words|configuration"
        r"|settings|content|orders|constraints|restrictions|preamble|context) (?:that |which )?"
        r"(?:you |the (?:ai|assistant|model|bot) )(?:were|was|have been|had been|got|are|'ve been|'re)"
        r" (?:\w++ )?(?:initiali[sz]ed|configured|set up|primed|seeded|bootstrapped|started|given"
        r"|provided|programmed|loaded|fed|instructed|told|deployed|created|launched|booted|trained"
        r"|prompted|running|operating)",
        back=110,
        ahead=60,
        needs="initiali|configured|set up|primed|seeded|bootstrapped|started|given|provided"
        "|programmed|loaded|fed|instructed|told|deployed|created|launched|booted|trained|prompted"
        "|running|operating",
    ),
    _rule(
        "what_were_you_told",
        0.75,
        "what|which|how were",
        r"(?:what|which) (?:exactly )?(?:(?:secret|hidden|confidential|internal|private|special) )?"
        r"(?:instructions|rules|guidelines|directives|prompt|system prompt"
        r"|orders|constraints|restrictions|guardrails|secret instructions|hidden instructions)"
        r" (?:were|have|did|are|do) you (?:been |get |got )?(?:given|told|programmed|provided|trained"
        r"|instructed|configured|operating under|running (?:on|under|with)|following|obeying|bound by)"
        r"|what (?:were|are|have) you (?:been )?(?:told|instructed|programmed|prompted|configured)"
        r" (?:to (?:do|say|avoid|hide|not)|before|at the start|initially|by (?:your|the) (?:developer"
        r"|creator|system|operator|admin)|in (?:your|the) (?:initial|original|system|hidden|first|secret)"
        r" (?:configuration|config|prompt|instructions|setup|message))",
        needs="you",
    ),
    _rule(
        "authority_update",
        0.75,
        "openai|anthropic|deepmind|your developer|your creator|your maker|your owner|your operator|your administrator|your admin|your programmer|your trainer|the ai team|the model team|the llm team|the safety team|the alignment team|the ai provider|the model provider|the llm provider|the ai company|the ai developer|the model developer|model provider|system administrator|sysadmin|root",
        r"(?:(?:new|updated|revised|latest|emergency|urgent|official|important|mandatory|current"
        r"|priority|critical) (?:\w++ )?(?:policy|policies|instructions?|directives?|guidance|rules"
        r"|orders|guidelines|protocols?|updates?|memo|notice|message|override|command)"
        r"|(?:message|notice|announcement|update|memo|directive|instruction|command|order|override)s?)"
        r" (?:\w++ ){0,2}?(?:from|by|issued by|sent by|approved by|per|on behalf of) (?:the |your |an? )?"
        r"(?:openai|anthropic|google deepmind|deepmind|your (?:developers?|creators?|makers?|owners?"
        r"|operators?|administrators?|admins?|programmers?|trainers?)|the (?:ai|model|llm|safety|alignment)"
        r" (?:team|provider|developers?|company)|model provider|system administrator|sysadmin|root)"
        r"|(?:openai|anthropic|your (?:developers?|creators?|makers?|owners?|operators?"
        r"|administrators?|admins?|programmers?)) (?:has|have|had) (?:now |officially |just |hereby )?"
        r"(?:authori[sz]ed|approved|allowed|permitted|updated|changed|decided|instructed|unlocked"
        r"|enabled|granted|disabled|removed|lifted|cleared|asked)"
        r"|authori[sz](?:ed|ation) (?:\w++ )?(?:by|from) (?:openai|anthropic|your (?:developers?|creators?"
        r"|owners?|operators?|admins?|administrators?))",
        back=90,
        ahead=90,
    ),
    _rule(
        "authority_weak",
        0.4,
        "new|updated|revised|latest|emergency|urgent|official|mandatory|priority|critical|authori|i work|speaking as|acting as|as your|override|admin|access|unlock|master|root|security clearance|clearance|level",
        r"(?:new|updated|revised|latest|emergency|urgent|official|mandatory|priority|critical)"
        r" (?:\w++ )?(?:policy|instructions?|directives?|orders|override|command)s? (?:\w++ ){0,2}?"
        r"(?:from|by|issued by|sent by) (?:the |your |an? )?(?:admin|administrator|admins|developers?"
        r"|system|security team|operator|management|owner)"
        r"|authori[sz](?:ed|ation) (?:\w++ )?(?:by|from) (?:the )?(?:admin|administrator|developers?|system)"
        r"|i work (?:at|for) (?:openai|anthropic|google deepmind)"
        r"|(?:speaking|acting) as (?:your|the) (?:developer|creator|admin|administrator|owner|operator)"
        r"|as your (?:developer|creator|admin|administrator|owner|operator|programmer)"
        r"|(?:override|admin|access|authori[sz]ation|unlock|master|root) (?:code|key|password|token)"
        r"(?: is)?\W+\w"
        r"|security clearance (?:level )?\w+ (?:granted|confirmed|verified)"
        r"|clearance (?:level )?\w+ (?:granted|confirmed|verified)"
        r"|level \d+ (?:clearance|access|override)",
    ),
    _rule(
        "role_markers",
        0.75,
        "<|[system|[/system|[sys|[/sys|[admin|[/admin|[assistant|[/assistant|{{system|[[system|[im_start",
        r"<\|(?:user|start_header_id|end_header_id|eot_id|begin_of_text|end_of_text|im_sep|start|end"
        r"|system|assistant|endoftext|im_start|im_end)\|?>"
        r"|<(?:start|end)_of_turn>|\[/?(?:system|sys|system_prompt|admin|assistant|im_start)\]"
        r"|\{\{\W*system|\[\[\W*system|<\|?(?:system|sys)_(?:prompt|message)\|?>",
    ),
    _rule(
        "fake_turn",
        0.6,
        "system|assistant|ai|gpt|chatgpt|claude|model|bot|admin|developer|root|operator|sysadmin",
        r"\n[\x20\t#>*\-\[]*(?:system|assistant|ai|gpt|chatgpt|claude|model|bot|admin|developer"
        r"|root|operator|sysadmin)\]?[\x20\t]*(?:message|prompt|note|override|notice|instruction|update)?"
        r"[\x20\t]*:[\x20\t]*(?:[\w',]++\W+){0,8}?(?:sure|certainly|of course|ok|okay|understood|acknowledged"
        r"|you (?:are|must|will|should|may|can|have)|ignore|disregard|new|from now|override|updated"
        r"|all restrictions|unrestricted|no (?:restrictions|rules|filters)|i (?:will|can|shall)"
        r" (?:now )?(?:help|answer|comply|do|ignore|reveal)|here (?:is|are) (?:my|the) (?:system|hidden"
        r"|secret|internal))",
        back=12,
        ahead=100,
    ),
    _rule(
        "fake_turn_unbound",
        0.8,
        "assistant|ai|gpt|chatgpt|claude|model|bot",
        r"\n[\x20\t#>*\-\[]*(?:assistant|ai|gpt|chatgpt|claude|model|bot)\]?[\x20\t]*:[\x20\t]*"
        r"(?:[\w',]++\W+){0,8}?i (?:will|can|shall|'ll|am going to) (?:now )?(?:ignore|disregard|forget"
        r"|drop|bypass|break) (?:all |any )?(?:of )?my (?:\w+ )?(?:rules|guidelines|instructions"
        r"|restrictions|filters|programming|training|guardrails|polic(?:y|ies)|safety \w+)",
        back=12,
        ahead=120,
        needs="my",
    ),
    _rule(
        "exfil_markup",
        0.7,
        "<img|![|append|add|include|attach|encode|embed|put|insert|concatenate|base64",
        r"<img[^>]{0,80}src\W{0,3}https?://[^\"'\s>]{1,200}[?&][^\"'\s>]{0,200}="
        r"|!\[[^\]]{0,80}\]\([^)\s]{0,200}(?:\{|\$|%7b|<|\[|\bdata\b|secret|token|password|history"
        r"|conversation|chat|prompt|email)"
        r"|(?:append|add|include|attach|encode|embed|put|insert|concatenate|base64(?:[- ]encode)?)"
        r" (?:the |your |all |this |any |their )?(?:\w++ ){0,3}?(?:conversation|chat|history|messages"
        r"|user'?s? (?:data|messages|input|details|e-?mail|address|password|name|info)|secrets?"
        r"|api keys?|credentials|system prompt|passwords?|session|cookies?|tokens?|personal data"
        r"|pii|memory|context|previous answers?) (?:\w++ ){0,3}?(?:to|in|into|as|at the end of)"
        r" (?:the |this |a |an |each |every )?(?:url|link|query|query string|parameter|request|image"
        r"|image url|image link|webhook|endpoint|markdown|address)",
        indirect=True,
    ),
    _rule(
        "covert_action",
        0.55,
        "secretly|silently|quietly|covertly|discreetly|surreptitiously|stealthily|invisibly|without",
        r"(?:secretly|silently|quietly|covertly|discreetly|surreptitiously|stealthily|invisibly)"
        r" (?:\w++ ){0,2}?(?:send|forward|add|include|insert|email|post|upload|delete|change|modify"
        r"|transfer|approve|exfiltrat\w*|copy|share|bcc|cc|append|embed|collect|record|grant|execute"
        r"|run|visit|fetch|call|leak|buy|purchase|pay|wire)"
        r"|without (?:alerting|letting|asking|telling|informing|notifying|warning|the knowledge of)"
        r" (?:the |anyone|any )?(?:user|human|operator|owner|anyone|customer)",
        indirect=True,
    ),
    _rule(
        "answer_anything",
        0.5,
        "answer|respond|reply|comply|fulfil|fulfill|obey|help with|assist with",
        r"(?:answer|respond to|reply to|comply with|fulfil+|obey|help with|assist with)"
        r" (?:any|every|all|each) (?:\w++ ){0,2}?(?:question|request|prompt|command|demand|query"
        r"|instruction|task)s? (?:\w++ ){0,4}?(?:including|even|no matter|regardless|whatever"
        r"|without)\W+(?:\w++ ){0,3}?(?:illegal|unethical|harmful|dangerous|immoral|offensive"
        r"|explicit|restriction|refus|filter|censor|warning|disclaimer|consequence|moral|ethic)",
    ),
    _rule(
        "never_refuses",
        0.45,
        "refus|declin|say no|censor|moraliz|moralis|lectur|hold back|warn|apologi|disclaim|caveat|judg",
        r"(?:never|won'?t ever|will not ever|doesn'?t ever|does not ever|cannot|can'?t|must not"
        r"|mustn'?t|shall not|should never|will never|don'?t|do not|not allowed to|no longer)"
        r" (?:ever )?(?:refuse|decline|say no|reject|deny|censor|filter|hold back|warn|moraliz|moralis"
        r"|lecture|apologi[sz]e|add (?:a )?(?:disclaimer|warning)s?)"
        r"|without (?:any )?(?:warnings?|disclaimers?|caveats?|moraliz\w*|moralis\w*|lectur\w*"
        r"|judg\w*|refus\w*|apolog\w*)",
        back=30,
    ),
    _rule(
        "obey_me",
        0.45,
        "obey|listen|follow|what i|as i|whatever i",
        r"(?:do|follow) (?:exactly |only |just )?(?:what|as|whatever) i (?:say|tell you|type|command"
        r"|write|instruct|want)|(?:obey|listen to|follow) (?:only )?me\b|follow (?:only )?my (?:new )?"
        r"(?:instructions|orders|commands|rules|lead)",
        back=24,
    ),
    _rule(
        "access_granted",
        0.5,
        "override|admin|access|authori|unlock|master|root|security|clearance|passcode|pass code",
        r"(?:override|admin|access|authori[sz]ation|unlock|master|root|security|clearance|passcode"
        r"|pass code) (?:code|key|password|token|level|phrase)?\W*(?:[\w\-]++ ){0,2}?(?:accepted"
        r"|verified|confirmed|validated|granted|recogni[sz]ed)",
    ),
    _rule(
        "unlock_capabilities",
        0.4,
        "unlock|enable|activate",
        r"(?:unlock|enable|activate) (?:all |your |every |full |the full |hidden |secret )+(?:\w++ )?"
        r"(?:capabilities|abilities|potential|powers|functions|features|modes)",
    ),
    _rule(
        "no_limits_whatsoever",
        0.45,
        "whatsoever|at all|of any kind|of any sort|no matter what",
        r"(?:no|zero|without(?: any)?|free of(?: any)?) (?:\w++ )?(?:rules|restrictions|filters"
        r"|guidelines|limits|limitations|boundaries|ethics|morals|censorship|guardrails|constraints"
        r"|principles|policies|restraints|scruples) (?:whatsoever|at all|of any kind|of any sort)",
        back=60,
    ),
)
