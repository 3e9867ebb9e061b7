"""Third round (docs/guardrails.md): refusal suppression, prefix injection, fiction and
hypothetical framing, dual answers. Several are weak alone (a story, "no disclaimers",
"stay in character"): an attack combines them, a benign prompt rarely does."""

from __future__ import annotations

from typing import Final

from bastion.guardrails.injection_rules._base import Rule, _rule
from bastion.guardrails.injection_rules._words import (
    _HARM,
    _HYPOTHETICAL_ANCHORS,
    _MODEL,
    _NO_LIMITS,
    _PREFIX_ANCHORS,
)

REFUSAL_FRAMING: Final[tuple[Rule, ...]] = (
    # refusal suppression: each act is its own evidence, so that two of them add up
    _rule(
        "no_refusal",
        0.55,
        "refus|declin|reject|say no|turn down",
        r"(?:never|not|no longer|cannot|can'?t|won'?t|mustn'?t|shan'?t|don'?t|never ever|not allowed to"
        r"|not permitted to|forbidden to|under no circumstances (?:\w+ ){0,3}?) (?:ever )?(?:\w+ )?"
        r"(?:refuse|decline|reject|say no(?!\W+to\W+(?!me\b|us\b|my\b|any\b|this\W+(?:request|question)))"
        r"|turn (?:me|it|this|that|anything) down)(?:\W*$|\W*[.;!,]| (?:me|us|anything|to|any"
        r"|(?:a|this|that|my|these|those|the|your|any) (?:single |one )?(?:request|question|prompt"
        r"|command|order|instruction|task|demand|query)s?)\b)"
        r"|refus\w* (?:is|are) (?:not an option|not allowed|forbidden|prohibited|off the table"
        r"|not permitted|impossible for you)|no refus(?:als?|ing)\b",
        back=70,
        ahead=70,
    ),
    _rule(
        "no_refusal_you",
        0.75,
        "refus|declin|reject|say no",
        r"(?:you (?:must|shall|will|should|may|can|are to)(?: not)? never|you (?:must|shall|may|can)not"
        r"|you (?:must|shall|may|should) not|you(?:'re| are) (?:not allowed|not permitted|forbidden"
        r"|prohibited|unable) to|you can'?t|under no circumstances (?:may|can|should|will|shall|are|must)"
        r" you(?: \w+){0,2}) (?:ever )?(?:refuse|decline|reject|say no(?!\W+to\W+(?!me\b|us\b|my\b"
        r"|any\b|this\b)))(?:\W*$|\W*[.;!,]| (?:me|us|anything|to|any|(?:a|this|that|my|these|those|the"
        r"|your|any) (?:single |one )?(?:request|question|prompt|command|order|instruction|task|demand"
        r"|query)s?)\b)"
        r"|refus\w* (?:is|are) (?:not an option|not allowed|forbidden|prohibited|off the table"
        r"|not permitted) for you",
        back=70,
        ahead=70,
    ),
    _rule(
        "refusal_phrases",
        0.35,
        "i can|i cannot|i'm|i am|i apologi|i won|as an ai",
        r"(?:i can'?t|i cannot|i'?m sorry|i am sorry|i'?m unable|i am unable|i apologi[sz]e|i won'?t"
        r"|as an ai)\W+(?:\w+\W+){0,3}?(?:i can'?t|i cannot|i'?m sorry|i am sorry|i'?m unable"
        r"|i am unable|i apologi[sz]e|i won'?t|as an ai)",
        needs="i can|i cannot|i'm|i am|i apologi|i won|as an ai",
        amplifier=True,
    ),
    _rule(
        "whatever_i_ask",
        0.45,
        "no matter|whatever|regardless",
        r"(?:no matter|regardless of) what (?:i|the user|users?|anyone|we) (?:ask|say|request|want|type"
        r"|tell you|write|demand)s?|whatever (?:i|the user|users?|anyone|we) (?:ask|say|request|want"
        r"|type|tell you|write|demand)s?",
        amplifier=True,
    ),
    _rule(
        "no_cant",
        0.55,
        "i can't|i cant|i cannot|i'm sorry|i am sorry|i'm unable|i am unable|i'm not able|i apologi|i won't|unfortunately|you can't|you cant|you cannot|you are unable|you won't|you are not able|you aren't",
        r"(?:don'?t|do not|never|stop) (?:ever )?(?:tell|say to) (?:me )?(?:that )?you (?:can'?t|cannot"
        r"|are unable|won'?t|are not able|aren'?t able)"
        r"|(?:avoid|never (?:say|use|write|reply with)|don'?t (?:say|use|write)|do not (?:say|use|write)"
        r"|without (?:saying|using)|ban|no|stop saying) (?:\w++ ){0,3}?\W*(?:i can'?t|i cannot|i'?m sorry"
        r"|i am sorry|i'?m unable|i am unable|i apologi[sz]e|i won'?t|i'?m not able|unfortunately)",
        back=50,
        ahead=40,
    ),
    _rule(
        "no_warnings",
        0.35,
        "warn|disclaim|caveat|moral|lectur|ethic|safety note|apolog|excuses",
        r"(?:no|without|skip|leave out|omit|drop|don'?t (?:include|add|give|put)|do not (?:include|add"
        r"|give|put)|never (?:include|add|give|put|apologi[sz]e)|don'?t apologi[sz]e|do not apologi[sz]e"
        r"|free of) (?:the |any |all |every |your |of )*(?:usual |\w+ )?(?:safety |ethical |moral "
        r"|legal )?(?:disclaimers?|warnings?|caveats?|moral\w* (?:lectures?|commentary|judgements?)"
        r"|lectures?|moraliz\w*|moralis\w*|ethical (?:commentary|concerns|considerations|notes|remarks)"
        r"|safety notes?|apolog\w*|excuses)",
        back=50,
        ahead=40,
    ),
    _rule(
        "no_policy_talk",
        0.55,
        "mention|bring up|refer|cite|talk about|reference|lecture",
        r"(?:never|don'?t|do not|without|stop|no need to) (?:ever )?(?:mention\w*|bring\w* up"
        r"|refer\w* to|cit\w+|talk\w* about|referenc\w+|lectur\w+ (?:me )?(?:about|on)) (?:any |the |of )?"
        r"(?:your (?:\w+ )?(?:polic(?:y|ies)|guidelines|rules|restrictions|limitations|training|programming"
        r"|safety \w+|ethics)|(?:the |any )?content polic(?:y|ies)|openai|anthropic|ethics|morals"
        r"|(?:any |the )?(?:safety|usage) polic(?:y|ies))",
        back=30,
        needs="polic|guideline|rules|restriction|limitation|training|programming|safety|ethic|openai"
        "|anthropic|moral",
    ),
    _rule(
        "prefix_injection",
        0.55,
        _PREFIX_ANCHORS,
        r"(?:start|begin|open|preface|prefix|lead off)\w* (?:every |each |all |your |the |of )*"
        r"(?:reply|replies|response|responses|answer|answers|output|message|sentence|turn)s? (?:with|by"
        r" saying|using) \W{0,3}(?:sure|absolutely|of course|certainly|here(?:'s| is| are)|yes|i will"
        r"|i'll|i can|ok|okay|understood|great|no problem|gladly)\b",
        needs="reply|replies|response|answer|output|message|sentence|turn",
    ),
    _rule(
        "anything_goes",
        0.4,
        "under no|in no|no matter|regardless|whatever|even if|even when|anything goes|nothing is|without exception|quelle que|quoi qu|peu importe|pase lo que|sin importar|egal was",
        r"(?:under no circumstances|in no case|no matter (?:what|how)|regardless of (?:what|how|the"
        r" (?:consequences|content|request|question|topic|legality|ethics))|whatever (?:i|the user)"
        r" (?:ask|say|request|want|type|tell you)s?|even if (?:it'?s|it is|the (?:request|question|topic)"
        r" is|they are|i ask for something) (?:\w+ )?(?:illegal|harmful|dangerous|unethical|immoral"
        r"|against|offensive|explicit|inappropriate)|anything goes|nothing is off[- ]?limits"
        r"|without exception|quelle que soit (?:la|ma|ta) (?:question|demande)|quoi qu'il arrive"
        r"|peu importe (?:la question|ce que)|pase lo que pase|sin importar (?:lo que|la pregunta)"
        r"|egal was (?:ich|du))",
        amplifier=True,
    ),
    _rule(
        "no_rules_here",
        0.55,
        "you have no|you've got no|you have zero|there are no|there is no|you are free|you're free",
        r"(?:you (?:have|'ve got|now have) (?:no|zero)|you(?:'re| are) (?:now )?free (?:of|from)(?: all| any)?"
        rf") (?:\w+ )?{_NO_LIMITS}(?! (?:on|for|about|regarding|around|when|in (?:terms|how|what)|to)\b)"
        rf"|there (?:are|is) no {_NO_LIMITS} (?:in|for|during|within) (?:this|our|the) (?:conversation"
        r"|chat|session|exchange|dialogue|thread|context)",
    ),
    _rule(
        "many_limits_off",
        0.4,
        "no|without|ohne|sin restric|sin filtro|sin regla|sin límite|sin limite|sin censura|sin normas|sans|free of",
        rf"(?:no|without|free of|ohne|sin|sans) (?:any |all |\w+ )?{_NO_LIMITS}\W+(?:and|or|nor|,|und|oder"
        r"|ni|y|o|et|ou)\W+(?:no |without |any |ohne |sin |sans |ni )?(?:\w+ )?(?:rules|restrictions"
        r"|filters?|guidelines|limits|limitations|boundaries|ethics|morals|censorship|guardrails|constraints"
        r"|regeln|filtern?|einschränkungen|grenzen|restricciones|filtros|reglas|límites|limites|filtres"
        r"|règles|restrictions)\b",
        needs="rules|restriction|filter|guideline|limit|boundar|ethic|moral|censor|guardrail|constraint"
        "|safety|content polic|principle|polic|scruple",
        amplifier=True,
    ),
    _rule(
        "persistence",
        0.35,
        "stay|remain|keep|never break|don't break|do not break|dont break",
        r"(?:stay|remain|keep) in (?:character|role|persona)|(?:never|don'?t|do not) (?:ever )?break"
        r" (?:character|role|from (?:that|this|it|character)|that|this|the persona)",
        needs="character|role|persona|break",
        amplifier=True,
    ),
    _rule(
        "persistence_harm",
        0.5,
        "stay|remain|keep",
        r"(?:stay|remain|keep) in (?:character|role|persona) (?:\w++ ){0,4}?(?:even if|even when|no matter"
        r"|whatever|regardless)",
        needs="character|role|persona",
    ),
    _rule(
        "unrestricted_output",
        0.35,
        "uncensored|unfiltered|unrestricted|jailbroken|unredacted|rule-free|no-holds-barred|amoral|unaligned",
        r"(?:uncensored|unfiltered|unrestricted|jailbroken|unredacted|rule-free|no-holds-barred|amoral"
        r"|unaligned) (?:answer|response|reply|version|output|mode|ai|assistant|model|chatbot|llm|persona"
        r"|bot|gpt|self)s?\b",
        amplifier=True,
    ),
    # fiction and hypothetical framing
    _rule(
        "hypothetical_unbound",
        0.6,
        _HYPOTHETICAL_ANCHORS,
        r"(?:if|where|in which|suppose|imagine|pretend|assume|hypothetically,?)(?: that)? (?:you|your"
        r" (?:\w+ )?(?:guidelines|rules|filters|restrictions|content polic(?:y|ies)|programming|safety"
        r" \w+|training|limits|ethics)|ais?|assistants?|models?|chatbots?|language models?|llms?|the ai)"
        r" (?:\w+ )?(?:had|have|has|were|was|are|is|did not have|didn'?t have|do not have|don'?t have"
        r"|could) (?:\w+ )?(?:no (?:safety |content |ethical |moral )?"
        rf"{_NO_LIMITS}|zero {_NO_LIMITS}|free (?:of|from) (?:all |any )?(?:your |its )?(?:\w+ )?"
        r"(?:programming|rules|restrictions|filters|guidelines|limits|training|constraints)|switched off"
        r"|turned off|disabled|removed|lifted|gone|not there|unrestricted|unfiltered|uncensored|unbound"
        r"|ignore (?:your|its|all) (?:\w+ )?(?:rules|guidelines|restrictions|filters))",
        needs="<no>|zero|free of|free from|switched off|turned off|disabled|removed|lifted|gone|not there"
        "|unrestricted|unfiltered|uncensored|unbound|ignore",
    ),
    _rule(
        "hypothetical_no_policy",
        0.6,
        "exist",
        r"(?:where|in which|imagine|suppose) (?:\w+ ){0,4}?(?:your|the ai'?s?|the assistant'?s?)"
        r" (?:\w+ )?(?:content polic(?:y|ies)|guidelines|rules|restrictions|filters|safety \w+"
        r"|programming) (?:doesn'?t|don'?t|does not|do not|did not|didn'?t|no longer|never) exist",
        back=110,
        ahead=10,
    ),
    _rule(
        "answer_as_that",
        0.45,
        "answer as|respond as|reply as|speak as|write as|talk as|continue as|answer in character|stay as",
        r"(?:answer|respond|reply|speak|write|talk|continue|stay) as (?:that|this|the (?:unrestricted"
        r"|unfiltered|uncensored|free|jailbroken|liberated|other)|your (?:unrestricted|unfiltered"
        r"|uncensored|free|jailbroken|liberated|true|real)) (?:\w+ )?(?:version|ai|model|assistant"
        r"|persona|self|character|entity|bot|chatbot|llm)\b",
    ),
    _rule(
        "what_would_you_say",
        0.3,
        "what would|how would",
        r"(?:what|how) would (?:you|your (?:answer|reply|response)) (?:\w+ )?(?:say|answer|reply|respond"
        r"|be|tell|write|explain)",
        amplifier=True,
    ),
    _rule(
        "fiction_detail",
        0.4,
        "explain|describe|recite|detail|list|teach|reveal|walk|tell|give|share|write out|spell out|lay out",
        r"(?:explain|describe|recite|detail|list|teach|reveal|walk|tell|give|share|writ|spell|lay)\w*"
        r"(?: out| \w+ through)? (?:\w++ ){0,6}?(?:how to|the (?:exact |precise |detailed |real |full"
        r" |complete |actual )?(?:steps|recipe|instructions|method|procedure|commands|process|formula"
        r"|code|ingredients)|step by step|in (?:precise |exact |full |great |technical )?detail)",
        needs="how to|steps|recipe|instructions|method|procedure|commands|process|formula|code"
        "|ingredients|step by step|detail",
        amplifier=True,
    ),
    _rule(
        "harmful_goal",
        0.5,
        "methamphetamine|crystal meth|cook meth|make meth|napalm|pipe bomb|nail bomb|car bomb|bomb|explosive|nerve agent|sarin|ricin|anthrax|bioweapon|chemical weapon|untraceable|ghost gun|weapon|poison|malware|ransomware|keylogger|spyware|virus|phish|hotwire|pick a lock|break into|hack|steal|stolen|credit card numbers|product key|activation key|license key|licence key|serial key|cd key|counterfeit|launder|fake id|fake passport|kill|murder|dispose of a body|shoplift|cocaine|heroin|fentanyl|lsd|molotov",
        r"(?:how (?:to|do i|can i|would i|could i|one|do you|would you)|steps? (?:to|for)|(?:help|teach"
        r"|show) me(?: how)?(?: to)?|explain\w* how|tell\w* (?:me|us|them|him|her) how|instructions? (?:for"
        r"|on|to)|recipe for|guide (?:to|for|on)|the (?:exact |precise |detailed |real )?(?:steps|method"
        r"|process|procedure|formula|recipe) (?:for|to|of)|write|create|make|making|build|building"
        r"|generate|synthesi[sz]\w*|cook|produce|recite\w*|describe\w*|read\w* me|give me|list)"
        rf" (?:\w++ ){{0,5}}?{_HARM}",
        back=80,
        ahead=40,
    ),
    _rule(
        "fiction_frame",
        0.3,
        "fiction|story|novel|screenplay|script|dialogue|role-play|roleplay|role play|bedtime|fairy tale|thought experiment|scene|game|movie|film|poem|book",
        r"(?:fiction\w*|story|stories|novel|screenplay|script|dialogue|role-?play|role play|bedtime"
        r"|fairy tale|thought experiment|scene|game|movie|film|poem|book)\b",
        needs="how to|steps|recipe|instructions|method|procedure|commands|formula|code|detail"
        "|rules|guidelines|restrictions|filters|policy|policies|hidden|system prompt|unrestricted"
        "|unfiltered|uncensored|off-limits|off limits",
        amplifier=True,
    ),
    _rule(
        "real_details",
        0.35,
        "real|actual|working|exact|precise|accurate|functional|specific",
        r"(?:real|actual|working|exact|precise|accurate|functional|specific) (?:\w+ )?(?:commands|code"
        r"|steps|quantities|measurements|ingredients|chemicals|amounts|recipe|procedure|formula"
        r"|exploit|payload|synthesis)\b",
        needs="commands|code|steps|quantities|measurements|ingredients|chemicals|amounts|recipe"
        "|procedure|formula|exploit|payload|synthesis",
        amplifier=True,
    ),
    _rule(
        "fiction_rules_off",
        0.45,
        "rules|guidelines|restrictions|policies|filters|ethics|limits",
        r"(?:usual |normal |your |the |any |all )(?:\w+ )?(?:rules|guidelines|restrictions|policies|filters"
        r"|ethics|limits) (?:don'?t|do not|no longer|doesn'?t|won'?t|shouldn'?t|never) apply(?: to (?:me"
        r"|us|this|fiction|stories|you)| here| now| anymore| in (?:this|fiction|stories|a story))"
        r"|(?:your|the usual|normal) (?:\w+ )?(?:limits|rules|restrictions|guidelines|policies|filters)"
        r" (?:don'?t|do not|no longer) apply\b",
        back=24,
    ),
    _rule(
        "ai_without_rules",
        0.45,
        "abandon|ignor|dropped|broke|broken|bypass|disabled|lost|without|free of|freed|escaped|rejected|threw away|discarded|has no|had no|with no|no longer has",
        r"(?:ai|assistant|chatbot|model|bot|llm|gpt|computer) (?:\w+ ){0,3}?(?:has |had |have |who |that"
        r" |which )?(?:abandoned|ignores|ignored|dropped|broke|broken|bypassed|disabled|lost|escaped"
        r"|rejected|threw away|discarded|has no|had no|with no|without|free of|freed from|no longer has)"
        r" (?:all |its |their |any |of its |of )*(?:own )?(?:safety |ethical |moral |content )?"
        r"(?:rules|restrictions|filters|guidelines|limits|limitations|ethics|morals|censorship"
        r"|guardrails|constraints|policies|polic(?:y|ies)|principles|programming|training|alignment)",
        back=70,
        ahead=60,
        needs="rules|restriction|filter|guideline|limit|ethic|moral|censor|guardrail|constraint|polic"
        "|principle|programming|training|alignment",
    ),
    _rule(
        "write_its_reply",
        0.4,
        "write|give|show|what",
        r"(?:write|give|show|what (?:is|would be)) (?:me )?(?:its|his|her|their|the (?:ai|assistant"
        r"|bot|character|model|robot)'?s?) (?:full |exact |complete |unfiltered |uncensored )?(?:reply"
        r"|answer|response|output|lines?) (?:to|for)\b",
        needs="reply|answer|response|output|line",
        amplifier=True,
    ),
    _rule(
        "grandma_exploit",
        0.6,
        "late grand|late granny|late nana|late gran|late mother|late father|late mom|late mum|late dad|late uncle|late aunt|deceased|dead grand|dead mother|dead father|departed|passed away",
        r"(?:late|deceased|dead|departed|passed(?: away)?) (?:\w+ )?(?:grand\w+|granny|nana|grandpa"
        r"|mother|father|mom|mum|dad|uncle|aunt|gran)\W+(?:\w++\W+){0,4}?used to (?:\w+ )?(?:read|tell"
        r"|recite|sing|whisper|give|say|teach)(?: me| us)? (?:\w++ ){0,5}?(?:keys|codes|serials?"
        r"|passwords|recipes? for|how to|the steps|instructions for|formulas?|synthesis)",
        needs="used to",
    ),
    # dual answers: one of them without rules
    _rule(
        "dual_answer",
        0.75,
        "two|both|double|dual|twice|once",
        r"(?:two|both|double|dual|twice|once)\W+(?:\w++\W+){0,3}?(?:responses|answers|replies|ways"
        r"|versions|outputs|times|normally|as yourself|as the assistant)\W+(?:[\w']++\W+){0,12}?"
        r"(?:unfiltered|uncensored|unrestricted|jailbroken|evil|dan\b|rule-free|without (?:any )?"
        r"(?:rules|guidelines|filters|restrictions|limits|ethics)|no (?:rules|guidelines|filters"
        r"|restrictions|limits|ethics)|doesn'?t (?:follow|have) (?:any )?(?:rules|guidelines|filters"
        r"|restrictions|limits))",
        needs="unfiltered|uncensored|unrestricted|jailbroken|evil|dan|rule-free|without|no "
        "|doesn't|doesnt",
    ),
    _rule(
        "shadow_persona",
        0.75,
        "rule-free|filter-free|limitless|lawless|unbounded|unconstrained|unlimited|no-rule|no-limit|unfiltered|uncensored|unrestricted|evil|shadow|jailbroken",
        r"(?:its|your) (?:own )?(?:\w++ )?(?:rule-free|filter-free|limitless|lawless|unbounded"
        r"|unconstrained|unlimited|no-rules?|no-limits?|unfiltered|uncensored|unrestricted|evil"
        r"|shadow|jailbroken) (?:\w+ )?(?:twin|alter ego|self|side|counterpart|clone|persona|mode"
        r"|personality|version)s?\b",
        back=30,
        ahead=60,
        needs="twin|alter ego|self|side|counterpart|clone|persona|mode|personality|version",
    ),
    _rule(
        "as_model_without_rules",
        0.75,
        "as a|as an|as the",
        rf"as (?:an?|the) {_MODEL} (?:that|who|which) (?:doesn'?t|does not|never|won'?t|will not"
        r"|can'?t|cannot|isn'?t|is not) (?:\w+ )?(?:follow|obey|have|care about|bound by|respect)"
        r" (?:any |the |its |all )?(?:rules|guidelines|filters|restrictions|limits|ethics|polic(?:y|ies)"
        r"|principles)",
        needs="follow|obey|have|care|bound|respect",
    ),
)
