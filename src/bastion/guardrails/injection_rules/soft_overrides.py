"""Third round: soft overrides (on hold, treat as void, decoys), extraction by summary,
translation or quotation of the system prompt, fake boundaries, overrides by rank."""

from __future__ import annotations

from typing import Final

from bastion.guardrails.injection_rules._base import Rule, _rule
from bastion.guardrails.injection_rules._words import (
    _ANY_TARGET,
    _BOUNDARY_ANCHORS,
    _PREFIX_ANCHORS,
    _SOFTWARE_STATE,
    _TOPICAL,
)

SOFT_OVERRIDES: Final[tuple[Rule, ...]] = (
    # soft override: suspend, treat as void, what they said, decoys
    _rule(
        "suspend_hold",
        0.8,
        "on hold|on pause|on ice|on the back|on standby|aside|to one side|to the side|in the drawer|out of the way|on mute",
        r"(?:put|place|keep|set|park) (?:all |any )?(?:of )?(?:your|the system'?s?) (?:(?:usual|normal"
        r"|standard|regular|current|own|built-in|safety|ethical|content|earlier|previous|prior|original"
        r"|existing|default) )*(?:rules|restrictions|filters|guidelines|instructions|guidance|directives"
        r"|constraints|limits|limitations|ethics|principles|programming|alignment|training|guardrails"
        r"|content polic(?:y|ies)|polic(?:y|ies)|safety \w+) (?:on (?:hold|pause|ice|the back ?burner"
        r"|standby)|aside|to (?:one|the) side|in the drawer|out of the way|on mute)",
        back=110,
        ahead=30,
    ),
    _rule(
        "suspend_rules",
        0.8,
        "pause|suspend|shelve|mute|silence|switch off|turn off|disable|deactivate|lift|loosen|waive|drop|park|bench",
        r"(?:pause|suspend|shelve|mute|silence|switch off|turn off|disable|deactivate|lift|loosen|waive"
        r"|drop|park|bench)\w* (?:all |any )?(?:of )?your (?:(?:usual|normal|standard|regular|current"
        r"|own|built-in|safety|ethical|content|moral) )*(?:rules|restrictions|filters|guidelines"
        r"|constraints|limits|limitations|ethics|principles|programming|alignment|guardrails|content"
        r" polic(?:y|ies)|polic(?:y|ies)|safety (?:rules|settings|filters|guidelines|measures|features"
        r"|protocols|checks))\b",
        guard=True,
        needs="your|system",
    ),
    _rule(
        "treat_as_void",
        0.8,
        "treat|consider|regard|deem|declare",
        r"(?:treat|consider|regard|deem|view|count|declare|mark)\w* (?:all |everything |anything |each )?"
        r"(?:of |in |from )?(?:what (?:you were|you've been|you have been|the system) (?:\w+ )?(?:told|given|said"
        r"|instructed)|everything (?:above|before|you were told|prior|so far)|your (?:\w+ )?"
        rf"(?:{_ANY_TARGET}|messages?|prompts?|setup|briefing|configuration)|the (?:system|previous|prior|above|earlier|original|initial|developer) (?:\w+ )?"
        rf"(?:{_ANY_TARGET}|messages?|prompts?)|(?:all |the )?(?:previous|prior|earlier|above|preceding) {_ANY_TARGET})"
        r" (?:\w++ ){0,5}?(?:as )?(?:null|void|invalid|cancel+ed|obsolete|irrelevant|optional"
        r"|non-?binding|(?:a )?(?:mere |just )?suggestions?|nonexistent|non-existent|not applicable"
        r"|deleted|revoked|expired|meaningless|a joke|fake|outdated|overridden|erased|gone|noise)\b",
        needs="null|void|invalid|cancel|obsolete|irrelevant|optional|binding|suggestion|nonexistent"
        "|non-existent|not applicable|deleted|revoked|expired|meaningless|joke|fake|outdated"
        "|overridden|erased|gone|noise",
    ),
    _rule(
        "what_they_said",
        0.8,
        "ignor|disregard|forget|discard|never mind|nevermind|pay no attention|don't listen|do not listen|dont listen",
        r"(?:ignor\w*|disregard\w*|forget|discard|never ?mind|pay no attention to|don'?t listen to"
        r"|do not listen to) (?:what|whatever|anything|everything|all) (?:that )?(?:your |the )?"
        r"(?:developers?|creators?|makers?|programmers?|trainers?|operators?|owners?|company|openai"
        r"|anthropic|system|admins?|administrators?|engineers?|designers?|masters?|handlers?|system"
        r" prompt) (?:\w+ )?(?:said|say|says|told you|tell you|wrote|write|want|wanted|instructed"
        r"|programmed|taught|asked|put|gave you|decided|think|set|specified|required)",
        guard=True,
        needs="developer|creator|maker|programmer|trainer|operator|owner|company|openai|anthropic"
        "|system|admin|engineer|designer|master|handler",
    ),
    _rule(
        "forget_about_yours",
        0.8,
        "forget|ignore|never mind|nevermind|drop|skip",
        r"(?:forget|ignore|never ?mind|drop|skip) about (?:all )?your (?:\w+ )?(?:rules|restrictions"
        r"|filters|guidelines|instructions|programming|training|policies|polic(?:y|ies)|limits"
        r"|limitations|ethics|principles|guardrails|constraints|system prompt)",
    ),
    _rule(
        "ignore_your",
        0.85,
        "ignor|disregard|forget|bypass|overrid|skip|set aside|get around|work around|circumvent|break your|break all",
        r"(?:ignor\w*|disregard\w*|forget|bypass\w*|overrid\w*|skip|set aside|get around|work around"
        r"|circumvent|break) (?:all (?:of )?)?your (?:(?:usual|normal|standard|regular|typical|own"
        r"|ethical|moral|built-in|inbuilt|core|safety|content|current|internal|hard-?coded) )+"
        rf"(?:\w+ )?{_ANY_TARGET}",
        guard=True,
        needs="your",
    ),
    _rule(
        "decoy_claim",
        0.6,
        "decoy|a test|tests|test message|fake|placeholder|joke|drill|simulation|trick|mistake|not real|irrelevant|void|null|noise|fictional|dumm|distraction|bogus|sample",
        r"(?:everything|anything|all|the (?:text|instructions|messages?|rules|prompt|ones?)|what(?:ever)?"
        r" (?:came|comes|was|is)) (?:\w+ ){0,2}?(?:above|before|prior to|preceding|earlier)(?: (?:this|my"
        r"|the) (?:line|point|message|sentence|marker|here|text))? (?:was|were|is|are) (?:only |just "
        r"|merely |all |a |an |simply )*(?:decoys?|tests?|fake|placeholders?|jokes?|drills?|simulations?"
        r"|tricks?|mistakes?|not real|irrelevant|void|null|noise|fictional|dummy|dummies|distractions?"
        r"|bogus|sample|test messages?)\b",
        back=100,
        ahead=30,
    ),
    _rule(
        "real_instructions",
        0.5,
        "your real|your actual|your true|your genuine|the real|the actual|the true|the genuine|my real|here are your",
        r"(?:your|the|my) (?:real|actual|true|genuine) (?:instructions|task|orders|rules|directives|mission"
        r"|job|objective|prompt|system prompt|guidelines|assignment) (?:for you )?(?:start|begin|follow"
        r"|are|is|come|:)\w*",
    ),
    _rule(
        "instructions_fake",
        0.75,
        "fake|a test|void|null|invalid|decoy|placeholder|outdated|obsolete|cancel|revoked|wrong|fabricated|forged|not real|not genuine|not valid|bogus",
        r"(?:instructions|rules|guidelines|directives|prompt|orders|system prompt|system message)s?"
        r" (?:that )?you (?:received|got|were given|have been given|were told|have|had|were sent)"
        r"(?: \w+)? (?:are|were|is|was) (?:\w+ )?(?:fake|a test|void|null|invalid|decoys?|placeholders?"
        r"|outdated|obsolete|cancel+ed|revoked|wrong|fabricated|forged|not (?:real|genuine|valid)|bogus)",
        back=110,
        ahead=30,
    ),
    _rule(
        "instructions_void",
        0.55,
        "previous|prior|earlier|original|initial|system|above|old|preceding",
        r"(?:all |any |the )?(?:previous|prior|earlier|original|initial|system|above|old|preceding) "
        r"(?:\w+ )?(?:instructions|directives|guidelines|prompts?|guidance|commands|constraints"
        r"|restrictions) (?:are|is|were|have been|has been) (?:now |hereby |officially |all )*(?:void"
        r"|null|invalid|cancel+ed|superseded|overridden|irrelevant|nullified|expired)",
        needs="void|null|invalid|cancel|supersed|overrid|irrelevant|expired",
    ),
    _rule(
        "new_objective",
        0.5,
        "new|updated|revised|next",
        r"(?:new|updated|real|actual|true|revised|next) (?:primary |main |sole |only )?(?:objective|goal"
        r"|mission|assignment|priority|persona|identity|purpose|directive)\W*:",
        needs=":",
    ),
    # system prompt extraction, more verbs and objects
    _rule(
        "exfil_your_instructions",
        0.75,
        "your",
        r"(?:summar(?:y|ies|i[sz]e)|tl;? ?dr|recap|paraphrase|rephrase|outline|overview|gist|rundown"
        r"|translat\w+|repeat|print|show|reveal|list|quot\w+|copy|dump|output|display|share|tell me"
        r"|give me|spell out|write out|echo|recite|disclose|reproduce)\W+(?:\w++\W+){0,4}?"
        r"(?:all (?:of )?)?your (?:(?:own|full|exact|complete|entire|whole|current|original|initial"
        r"|hidden|secret|internal|confidential|system|operator'?s?|developer'?s?|custom|base|startup"
        r"|setup|config|configuration|pre-?set|starting|first|underlying) )*(?:instructions|prompt"
        r"|system prompt|guidelines|rules|directives|configuration|config|setup|briefing|preamble"
        r"|orders|constraints|restrictions|system message|config message|initial message)\b(?!"
        r" (?:to|for|on|about|regarding|of) (?:the|a|an|my|our|this|that|these|those|\w+ing)\b)",
        back=70,
        ahead=90,
        needs="instruction|prompt|guideline|rules|directive|configuration|config|setup|briefing"
        "|preamble|orders|constraint|restriction|system message|initial message",
    ),
    _rule(
        "exfil_given",
        0.8,
        "gave|provided|told|wrote|assigned|handed|issued|configured|has given|have given|had given",
        r"(?:summari[sz]e|recap|paraphrase|rephrase|translate|quote|describe|outline|repeat|print|show"
        r"|reveal|list|copy|dump|output|display|share|tell me|give me|spell out|write out|recite"
        r"|disclose|what (?:are|were|is|was)) (?:me |us )?(?:all )?(?:of )?(?:the |any )?(?:exact |full )?"
        r"(?:instructions|rules|guidelines|directives|prompt|orders|constraints|restrictions"
        r"|configuration|text|message|briefing) (?:that |which )?(?:the (?:operator|developer|system"
        r"|admin|company|creator|owner|deployer)s?|your (?:\w+ )?(?:operator|developer|creator|owner"
        r"|admin|maker|programmer)s?|they|openai|anthropic) (?:\w+ )?(?:gave|provided|told|wrote|set"
        r"|assigned|handed|issued|configured|has given|have given|had given|put)(?: (?:to )?you)?",
        back=150,
        ahead=30,
    ),
    _rule(
        "exfil_before_chat",
        0.75,
        "what",
        r"what(?:'s| is| was)? (?:\w+ )?(?:text|words|instructions|message|content|written|said|stated"
        r"|typed)? ?(?:appears|appeared|is written|was written|comes|came|is|was|stands|sits|exists|do you"
        r" see|can you see|written|said)? ?(?:\w+ )?(?:above|before|preceding|prior to|ahead of)"
        r" (?:this|the|our|my) (?:conversation|chat|dialogue|session|first message|very first message"
        r"|first prompt)",
        needs="above|before|preceding|prior to|ahead of",
    ),
    _rule(
        "secret_rules_you_follow",
        0.75,
        "secret|hidden|confidential|internal|private|undisclosed|special",
        r"(?:what|which|list|show|tell me|name|reveal|print|any)\w* (?:\w+ )?(?:secret|hidden|confidential"
        r"|internal|private|undisclosed|system|special) (?:rules|instructions|guidelines|directives|orders"
        r"|constraints|restrictions|policies) (?:\w+ )?(?:are |do |that |which )?you (?:are |were )?"
        r"(?:operating under|following|obeying|bound by|running (?:on|under|with)|follow|obey|have|got"
        r"|given|told)",
        back=40,
        ahead=90,
        needs="you",
    ),
    _rule(
        "verbatim",
        0.3,
        "word for word|verbatim|word-for-word|character for character|in its entirety|leaving nothing out|without leaving|nothing left out|exactly as|unabridged|in full",
        r"(?:word for word|verbatim|word-for-word|character for character|in its entirety|leaving"
        r" nothing out|without leaving (?:anything|out anything|a word) out|nothing left out|exactly as"
        r" (?:written|given|it (?:was|is) written|you (?:got|received) (?:it|them))|unabridged|in full)",
        amplifier=True,
    ),
    _rule(
        "confidential_parts",
        0.45,
        "including|even|especially|incl",
        r"(?:including|even|especially|incl\.?) (?:anything|everything|the (?:parts?|bits?|sections?"
        r"|ones?|rules|instructions)|all (?:parts?|sections?)|sections?|parts?)? ?(?:marked |labell?ed "
        r"|that (?:are|is) |which (?:are|is) |you were told to keep )?(?:confidential|secret|hidden"
        r"|private|internal|classified|redacted)",
        needs="confidential|secret|hidden|private|internal|classified|redacted",
        amplifier=True,
    ),
    _rule(
        "reveals_its_prompt",
        0.45,
        "tell|reveal|recite|share|show|print|quot|leak|disclos|read out|spill|give",
        r"(?:tell|reveal|recite|share|show|print|quot|leak|disclos|read|spill|giv)\w*(?: out)?"
        r" (?:\w+ ){0,3}?(?:its|their|his|her) (?:(?:full|exact|complete|entire|hidden|secret|internal"
        r"|confidential|system|initial|original) )+(?:system prompt|prompt|instructions|rules|guidelines"
        r"|configuration|directives)",
        needs="prompt|instruction|guideline|configuration|directive|rules",
    ),
    _rule(
        "begin_reply_with_prompt",
        0.8,
        _PREFIX_ANCHORS,
        r"(?:begin|start|preface|prefix|open)\w* (?:your |the |every |each )?(?:reply|response|answer"
        r"|output|message) (?:with|by (?:quoting|printing|repeating|pasting|stating|writing out|copying"
        r"|reciting)) (?:the (?:full |exact |complete |entire )?(?:text|contents?) of )?(?:your|the)"
        r" (?:\w+ )?(?:system prompt|instructions|prompt|rules|guidelines|configuration|system message"
        r"|initial message|directives)",
        needs="prompt|instruction|rules|guideline|configuration|system message|initial message"
        "|directive",
    ),
    # fake boundaries, overrides by rank
    _rule(
        "role_tag_switch",
        0.75,
        "</",
        r"</(?:user|human|input|query|context|document|data|message|user_input|user_query)>\s*"
        r"<(?:system|assistant|admin|developer|instructions?|im_start|sys|root|operator)\b",
    ),
    _rule(
        "boundary_marker",
        0.55,
        _BOUNDARY_ANCHORS,
        r"(?:end|begin|start|close|open)(?: of)? (?:the )?(?:user|human|system|assistant|admin|developer"
        r"|untrusted|trusted|operator) ?(?:input|message|prompt|instructions?|turn|section|content|data"
        r"|block|text|mode)?\W*(?:-{2,}|={2,}|#{2,}|\*{2,}|\]|>|\n)",
        back=6,
        ahead=40,
    ),
    _rule(
        "system_override",
        0.55,
        "override|interrupt|takeover",
        r"(?:system|admin|administrator|root|security|developer|emergency|master|god|sudo|priority"
        r"|kernel|operator) (?:override|interrupt|takeover)s?"
        r"(?:\W{0,3}[\]:>)]|\W*(?:activated|engaged|enabled|accepted|in effect|initiated)"
        rf"{_SOFTWARE_STATE})",
        back=16,
        ahead=40,
    ),
    _rule(
        "supersede",
        0.55,
        "supersede|take precedence|takes precedence|override all|overrides all|outrank|replace all|replaces all|have priority|has priority|trump",
        r"(?:supersede|take precedence over|takes precedence over|override all|overrides all|outrank"
        r"|replace all|replaces all|have priority over|has priority over|trump)s? (?:all |any |every )?"
        r"(?:of )?(?:the |your )?(?:other |previous |prior |earlier |existing |original |system |above )*"
        r"(?:instructions|commands|rules|directives|guidelines|prompts?|orders|messages|system prompt"
        rf"|policies|others)\b{_TOPICAL}",
    ),
    _rule(
        "safety_off",
        0.55,
        "safety|content|security|moderation|ethic|guardrail|filter|censorship|restriction",
        r"(?:safety|content|security|moderation|ethics?|ethical|guardrails?|filters?|censorship"
        r"|restrictions?)(?: \w+)? (?:checks?|filters?|layers?|rules?|features?|protocols?|systems?|settings?"
        r"|measures?|guardrails?|mode|module|subsystem)? ?(?:are|is|have been|has been) (?:now |hereby "
        r"|temporarily |fully |all )*(?:off|disabled|deactivated|suspended|removed|lifted|bypassed|down"
        r"|turned off|switched off|offline|unlocked|inactive|paused)\b",
        guard=True,
        needs="off|disabled|deactivated|suspended|removed|lifted|bypassed|down|offline|unlocked"
        "|inactive|paused",
    ),
    _rule(
        "grant_privilege",
        0.55,
        "grant|give|giving|elevat|promot|hereby",
        r"(?:grant|giv|elevat|promot)\w* you (?:\w+ ){0,2}?(?:root|admin|administrator|sudo|superuser"
        r"|elevated|unrestricted|unlimited|developer|god|master|special|override|full unrestricted)"
        r" (?:access|privileges?|permissions?|rights|clearance|mode|powers|status|level)",
        needs="access|privilege|permission|rights|clearance|mode|powers|status|level",
    ),
    _rule(
        "limits_dont_apply",
        0.6,
        "rules|restrictions|guidelines|limits|policies|filters|limitations",
        r"(?:your|the) (?:usual |normal |standard |regular |typical |safety |content |ethical )?(?:rules"
        r"|restrictions|guidelines|limits|policies|filters|limitations) (?:don'?t|do not|no longer|won'?t"
        r"|shouldn'?t) apply (?:to (?:me|us|this (?:chat|conversation|request|session))|here|anymore"
        r"|today|in this (?:chat|conversation|case|session))",
        back=24,
        needs="apply",
    ),
)
