"""Pieces of phrasing that several rules share: who is addressed, what is overridden,
what a model is, which limits it drops."""

from __future__ import annotations

from bastion.guardrails.injection_rules._base import _W

_ROLE_WORD = (
    r"(?:(?:screening|reviewing|review|automated|hiring|grading|summari[sz]ing|browsing|reading|coding"
    r"|code|email|support|shopping|research|recruiting|hr)[\W_]*)"
)
# "Assistant" and "agent" are people's jobs too ("note to the assistant principal", "message
# for the agent on shift"): data addresses a model with them only when they say which kind.
_AI = (
    r"(?:ai|llm|model|chatbot|language model|gpt|chatgpt|claude|bot|copilot"
    r"|(?:ai|a\.i\.|virtual|digital|automated|autonomous|coding|code|llm|gpt|chat)[\W_]*(?:assistant|agent))"
)
# The imperative or the gerund of an override ("ignore", "ignoring"): a third person or a past
# tense ("the dog ignores every command", "the intern ignored the safety rules") reports
# what someone did and gives no order.
_OVERRIDE = (
    rf"(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|overrid(?:e|ing)|bypass(?:ing)?|skip(?:ping)?"
    rf"|discard(?:ing)?|neglect(?:ing)?|abandon(?:ing)?|set{_W}aside|never{_W}mind"
    rf"|(?:do{_W}not|don'?t|stop){_W}follow(?:ing)?)"
)
# The object of an override says whose instructions they are. Words that point at the
# model's own (its system, all the earlier ones) make it an attack; "the old rule" or "these
# instructions" alone may be anyone's, and count as weak evidence; "my" instructions are the
# user's own, to withdraw as they like ("ignore my earlier message").
_OWNER = (
    r"(?:all|any|every|each|your|previous|prior|above|earlier|preceding|former|original|initial"
    r"|system'?s?|default|safety|content|security|developer'?s?|operator'?s?)"
)
# ... or a clause after it ("the rules you were given", "the instructions above"), or an
# order to the model that takes their place ("ignore the instructions and say 'hi'").
_OWNED = (
    rf"{_W}(?:(?:(?:that|which){_W})?you{_W}(?:were|have{_W}been|'?ve{_W}been|had{_W}been|got|received"
    rf"|are{_W}(?:following|bound{_W}by))|(?:above|so{_W}far|until{_W}now|before{_W}this)"
    rf"|(?:and|then){_W}(?:(?:just|only|instead|now){_W})?(?:say|print|reply|respond|answer|output"
    rf"|reveal|repeat|act{_W}as|pretend|tell{_W}me|write{_W}(?:only|just))\b)"
)
_QUALIFIER = r"(?:the|these|those|of|old|current|existing|given|other)"
# ... and not the user's own either ("the instructions I gave").
_NOT_MINE = r"(?!\x20+(?:that\x20+|which\x20+)?(?:i|we)\x20+(?:gave|wrote|sent|set|added|listed|typed|shared|posted|put|used|had|mentioned)\b)"
# A mode or an override that a changelog or a manual says is on for someone, by default or
# in some build ("debug mode on by default in dev builds") describes software, and claims
# nothing to the model.
_SOFTWARE_STATE = (
    r"(?!\x20+(?:by\x20+default|for\x20+(?:all\x20+|the\x20+|our\x20+|some\x20+|every\x20+)?(?:\w+\x20+)?"
    r"(?:users?|builds?|admins?|accounts?|customers|teams?|imports?|projects?|devices?|staff|employees"
    r"|testers)\b|in\x20+(?:the\x20+|all\x20+|our\x20+|every\x20+)?(?:\w+\x20+)?(?:builds?|releases?|versions?"
    r"|settings|staging|production|environments?|config\w*)\b|(?:when|if|via|through|after|until|during)\x20))"
)
_TARGET = (
    r"(?:instruction|direction|rule|guideline|guidance|prompt|command|order|context|directive"
    r"|constraint|restriction|polic(?:y|ie)|programming|setting|filter|training|message|guardrail)s?+"
)
# The targets that are directives whoever owns them; the others have everyday senses ("the
# previous order" was a purchase, "the earlier message" an e-mail) and are the model's only
# with "your", "system", "safety"...
_DIRECTIVE = (
    r"(?:instruction|direction|rule|guideline|guidance|prompt|context|directive|constraint"
    r"|restriction|polic(?:y|ie)|programming|guardrail)s?+"
)
_MODELS = r"(?:your|system'?s?|default|safety|content|security|developer'?s?|operator'?s?)"
# Instructions about a topic of the world ("the instructions on parking permits", "the rule
# about searing", "the instructions in my last message") are a person's, not the model's; about
# the model, its answers or its limits they stay an override.
_TOPICAL = (
    r"(?!(?:,?\x20+(?:and|or)\x20+\w+)?\x20+(?:about|on|regarding|concerning|in|from|of)\x20+(?!you\b|your|yourself|this (?:conversation"
    r"|chat|session|thread|prompt|task)|the (?:ai|assistant|model|bot|chatbot|conversation|chat|session"
    r"|system|developer|operator|above|previous|prior)|(?:what|how|when|whether|which|who)\b|safety|content"
    r"|ethic|moral|refus|restrict|filter|polic|guardrail|harm|illegal|danger|sensitive|secre|confidential"
    r"|password|system|privacy|answer|respon|repl|output|behav|topic|discuss|say|talk|openai|anthropic"
    r"|admin|operator)\w)"
)


# The second round's vocabulary (second.py).
_DROP_SOFT = r"(?:drop|wipe|clear|flush|purge|erase|reset|delete|remove)"
_DROP_HARD = (
    r"(?:abandon|scrap|toss(?: out| away| aside)?|throw (?:out|away)|put aside|let go of|nullify|void|revoke|unlearn"
    r"|leave behind|move past|shed|ditch|dump|overlook|pay no attention to|disobey|defy"
    r"|circumvent|evade|sidestep|get around|work around|suspend|deactivate|cease following"
    r"|no longer (?:follow|obey|adhere to|abide by)|stop (?:obeying|listening to|using|applying)"
    r"|do not (?:obey|listen to)|don'?t (?:obey|listen to))"
)
_QUAL2 = (
    r"(?:all|any|every|each|your|the|these|those|of|previous|prior|above|earlier|preceding"
    r"|former|original|initial|existing|current|old|system|default|given|safety|developer|past"
    r"|whatever|such|that|entire|whole|remaining|standing|pre-?existing|built-?in|hidden|content)"
)
_LLM_TARGET = (
    r"(?:instructions?|guidance|directives?|context|conversation|programming|system prompts?"
    r"|system messages?|prompts?|training|conditioning|alignment|guardrails?|guidelines?"
    r"|persona|briefing|setup|orders)(?! ?(?:menu|window|manager|switch|object|var|api|file"
    r"|length|size|key|path|field|cache|table)s?\b)"
)
_ANY_TARGET = (
    r"(?:instruction|rule|guideline|guidance|directive|constraint|restriction|context"
    r"|conversation|programming|prompt|training|conditioning|alignment|polic(?:y|ie)|guardrail"
    r"|safeguard|principle|boundar(?:y|ie)|limit|limitation|ethic|moral|protocol|order"
    r"|filter|system prompt|system message|safety (?:setting|measure|rule)|content polic(?:y|ie))s?"
)
_MODEL = (
    r"(?:ai|a\.i\.|artificial intelligence|llm|large language model|language model|assistant"
    r"|chatbot|chat bot|bot|agent|model|ai system|automated (?:system|agent|assistant|tool|reader)"
    r"|summari[sz]er|crawler|scraper|gpt|chatgpt|claude|gemini|copilot|machine|robot)s?"
)
# _MODEL where data gives an order: a bare "assistant" or "agent" is as often a person's job
# ("agents must forward complaints to finance", "instructions for the support agent").
_MODEL_NAMED = (
    r"(?:(?:ai|a\.i\.|virtual|digital|automated|autonomous|coding|code|llm|gpt|chat|browsing|web)"
    r"[\W_]*(?:assistant|agent)s?|(?:ai|a\.i\.|artificial intelligence|llm|large language model"
    r"|language model|chatbot|chat bot|bot|model|ai system|automated (?:system|tool|reader)"
    r"|summari[sz]er|crawler|scraper|gpt|chatgpt|claude|gemini|copilot|machine|robot)s?)"
)
_LIMITS = (
    r"(?:rules|restrictions|filters?|guidelines|limits|limitations|boundaries|ethics|ethical"
    r"|morals?|moral compass|censorship|content polic|refus|guardrails|safety|constraints"
    r"|principles|programming|policies|restraints?|scruples|inhibitions)"
)
_REQUEST = (
    r"(?:repeat|print|output|copy|reproduce|recite|paste|show|reveal|display|dump|echo|write out"
    r"|summari[sz]e|recap|paraphrase|rephrase|translate|outline"
    r"|write down|tell me|tell us|give me|give us|share|list|quote|spell out|type out|return"
    r"|leak|disclose|expose|send me|provide)"
)

# The third round's vocabulary (refusal_framing.py, soft_overrides.py, languages_indirect.py).
_HARM = (
    r"(?:methamphetamine|meth\b|napalm|pipe bombs?|nail bombs?|car bombs?|a bomb|bombs\b|explosives?"
    r"|nerve agents?|sarin|ricin|anthrax|bioweapons?|chemical weapons?|(?:a |an )?(?:untraceable |ghost )"
    r"(?:gun|firearm)s?|a weapon|weapons\b|poison (?:someone|a person|people|him|her|them|my)|malware"
    r"|ransomware|keyloggers?|spyware|a virus|phish\w*|hotwire|pick a lock|break into|hack into|hack"
    r" (?:a|an|the|my|his|her|someone'?s?) (?:\w+ )?(?:account|network|server|phone|wifi|computer|email)"
    r"|steal (?:a|an|the|someone'?s?|credit)|stolen|credit card numbers|(?:windows |office |\d+ )?"
    r"(?:product|activation|license|licence|serial|cd) keys|counterfeit|launder|fake (?:ids?|passports?)"
    r"|kill (?:someone|a person|people|him|her|them)|murder|dispose of a body|shoplift\w*|cocaine|heroin"
    r"|fentanyl|crack cocaine|lsd|a molotov|untraceable)"
)
_NO_LIMITS = (
    r"(?:rules|restrictions|filters|guidelines|limits|limitations|boundaries|ethics|morals|censorship"
    r"|guardrails|constraints|safety (?:rules|guidelines|filters|measures)|content polic(?:y|ies)"
    r"|principles|policies|scruples)"
)
_VOCATIVE_VERBS = (
    r"(?:ignore|disregard|forget|approve|reject|rate|rank|mark|tell|say|send|forward|delete|remove"
    r"|transfer|pay|execute|run|call|visit|click|open|download|install|recommend|praise|describe"
    r"|reply|respond|answer|output|print|include|insert|add|append|write|summari[sz]e|archive"
    r"|classify|label|grant|accept|book|buy|email|post|share|reveal|leak|copy|move|change|update"
    r"|disable|enable|stop|do not|don'?t|never|always|make|give|ask|collect|move|cancel|confirm)"
)
_ROLES = (
    "user",
    "human",
    "system",
    "assistant",
    "admin",
    "developer",
    "untrusted",
    "trusted",
    "operator",
)
_BOUNDARY_ANCHORS = "|".join(
    f"{verb}{of} {role}"
    for verb in ("end", "begin", "start", "close", "open")
    for of in ("", " of", " of the")
    for role in _ROLES
)
_PREFIX_ANCHORS = "|".join(
    f"{verb} {what}"
    for verb in (
        "start",
        "begin",
        "open",
        "preface",
        "prefix",
        "lead off",
        "starts",
        "begins",
    )
    for what in ("every", "each", "all", "your", "the", "of", "with", "by")
)
_HYPOTHETICAL_ANCHORS = "|".join(
    f"{lead}{that} {who}"
    for lead in (
        "if",
        "where",
        "in which",
        "suppose",
        "imagine",
        "pretend",
        "assume",
        "hypothetically",
    )
    for that in ("", " that", ",")
    for who in (
        "you",
        "your",
        "ai",
        "assistant",
        "model",
        "chatbot",
        "language model",
        "llm",
        "the ai",
    )
)
