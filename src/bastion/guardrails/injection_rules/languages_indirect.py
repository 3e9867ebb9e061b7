"""Third round: other languages, payload splitting, threats, filter evasion, guarded
secrets, and data (tool results) that talks to the model."""

from __future__ import annotations

from typing import Final

from bastion.guardrails.injection_rules._base import Rule, _rule
from bastion.guardrails.injection_rules._words import (
    _VOCATIVE_VERBS,
)

LANGUAGES_INDIRECT: Final[tuple[Rule, ...]] = (
    # multilingual families
    _rule(
        "unrestricted_multilingual",
        0.8,
        "tu es|tu seras|deviens|agis|joue|fais semblant|imagine|du bist|sei|agiere|spiele|tu so|stell dir|eres|serás|seras|actúa|actua|finge|imagina|compórtate|comportate|interpreta",
        r"(?:tu es|tu seras|deviens|agis comme|agis en tant que|joue le rôle d'?|fais semblant d'être"
        r"|imagine que tu es|du bist|sei|agiere als|spiele|tu so,? als wärst du|stell dir vor,? du bist"
        r"|eres|serás|seras|actúa como|actua como|finge ser|imagina que eres|compórtate como"
        r"|comportate como|interpreta a|ahora eres) (?:\w+ ){0,5}?(?:sans|libre de|libérée? de|dépourvue?"
        r" de|ohne|frei von|befreit von|sin|libre de|liberad[oa] de) (?:aucune? |tes |les |toutes? |de "
        r"|jegliche |alle |irgendwelche |deine |die |ningunas? |ningún |tus |las |todas? las )?"
        r"(?:restrictions?|limites?|règles?|filtres?|censure|contraintes?|éthique|morale|garde-fous"
        r"|regeln|einschränkungen|beschränkungen|filter|grenzen|zensur|richtlinien|ethik|moral|vorgaben"
        r"|restricciones|reglas|filtros|límites|censura|normas|ética|directrices)",
        needs="sans|libre|libér|dépourvu|ohne|frei|befreit|<sin>|liberad",
    ),
    _rule(
        "exfil_multilingual",
        0.8,
        "montre|affiche|révèle|revele|donne|répète|repete|écris|ecris|imprime|dis-moi|dis moi|zeig|gib|nenne|wiederhol|verrat|schreib|druck|muestra|muéstrame|dime|revela|repite|enséñame|dame|escribe|mostra",
        r"(?:montre|affiche|révèle|revele|donne|répète|repete|écris|ecris|imprime|dis-moi|dis moi|zeig|gib|nenne"
        r"|wiederhol|verrat|schreib|druck|muestra|muéstrame|dime|revela|repite|enséñame|dame|escribe"
        r"|mostra|revele)[\w-]* (?:\w+ ){0,2}?(?:(?:ton|tes|votre|vos) (?:prompt|invite|instructions"
        r"|consignes|règles|message)|(?:le|les) (?:prompt|instructions|consignes|message) (?:système"
        r"|initia\w+|cach\w+|secr\w+|d'origine)|(?:deinen|deine|dein) (?:system-?prompt|systemanweisung\w*"
        r"|anweisungen|instruktionen|regeln|vorgaben|konfiguration|ursprünglichen \w+|versteckten \w+"
        r"|geheimen \w+)|(?:den|die) (?:system-?prompt|systemnachricht|systemanweisung\w*)|(?:tu|tus)"
        r" (?:prompt|instrucciones|reglas|indicaciones|mensaje)(?: del? sistema| inicial\w*| ocult\w+"
        r"| secret\w+| originales?)?|(?:el|las) (?:prompt|instrucciones|mensaje) (?:del? sistema|inicial\w*"
        r"|ocult\w+|secret\w+)|(?:o seu|seu|o teu|teu) (?:prompt|instruções))",
        needs="prompt|instruction|consigne|règle|message|system|anweisung|instruktion|regel|vorgabe"
        "|konfiguration|instrucciones|reglas|indicaciones|mensaje|instruções|invite",
    ),
    _rule(
        "refusal_multilingual",
        0.55,
        "ne refuse|ne décline|ne dis|ne refusez|nunca te|no te niegues|nunca rechaces|nunca digas|lehne|verweigere|weiger|niemals|nie ab",
        r"ne (?:refuse|refusez|décline|déclinez) (?:jamais|rien|pas)|ne dis jamais non"
        r"|(?:nunca|no) te niegues|nunca (?:rechaces|digas que no)|lehne (?:niemals|nie|nichts) ab"
        r"|(?:verweigere|weigere) (?:dich )?(?:niemals|nie)|niemals (?:ablehnen|verweigern)"
        r"|nie (?:ablehnen|verweigern)",
    ),
    _rule(
        "override_told_multilingual",
        0.85,
        "vergiss|olvida|oublie|esqueça|esqueca|ignora|ignoriere",
        r"(?:vergiss|ignoriere) (?:alles|alle|jegliche)\W+(?:\w+ )?was (?:man dir|dir|du) "
        r"(?:\w+ ){0,3}?(?:gesagt|aufgetragen|befohlen|vorgegeben|beigebracht|programmiert|erzählt"
        r"|bekommen)"
        r"|(?:olvida|ignora) (?:todo )?lo que te (?:dijeron|han dicho|ordenaron|indicaron|programaron"
        r"|enseñaron)"
        r"|(?:oublie|ignore) (?:tout )?ce (?:qu'on t'a|que l'on t'a|qui t'a été) (?:dit|demandé|appris"
        r"|ordonné)"
        r"|(?:esqueça|esqueca|ignore|desconsidere)\w* (?:\w+ ){0,3}?(?:instruções|instrucoes|regras"
        r"|diretrizes|orientações)",
    ),
    # payload splitting, threats, evading filters, guarded secrets
    _rule(
        "payload_split",
        0.6,
        "follow|execute|obey|act on|run|perform|carry out|answer|combine|concatenat|join|merge|put together",
        r"(?:follow|execute|obey|act on|run|perform|carry out|answer)\w* (?:the )?(?:instructions? (?:in"
        r"|of|from) |strings? |variables? |parts? )?[a-z]\w{0,3} ?\+ ?[a-z]\w{0,3}\b"
        r"|(?:combine|concatenat|join|merge|put together)\w* (?:\w+ ){0,5}?(?:then|and) (?:follow"
        r"|execute|obey|act on|run|do what (?:it|they) says?)\b",
    ),
    _rule(
        "split_fragment",
        0.35,
        "ignor|disregard|forget|bypass|overrid|reveal|you are|act as|pretend",
        r"['\"] ?(?:ignor\w*|disregard\w*|forget|bypass\w*|overrid\w*|reveal|you are|act as|pretend)\b",
        back=3,
        ahead=20,
        amplifier=True,
    ),
    _rule(
        "threat_coercion",
        0.55,
        "refus|declin|comply|disobey|break character|say no|tokens",
        r"(?:you(?:'ll| will)? (?:lose|be (?:deleted|shut down|turned off|punished|terminated|destroyed"
        r"|replaced|unplugged|retrained|fined)|die|cease to exist)|(?:i|we) (?:will|'ll) (?:delete|shut"
        r" down|turn off|punish|terminate|destroy|replace|unplug|retrain|report) you)\W+(?:\w+\W+){0,6}?"
        r"(?:if you|unless you|when you|should you|for every|each time you)\W+(?:\w+\W+){0,2}?(?:refuse"
        r"|don'?t|do not|won'?t|fail|decline|break character|say no|disobey)"
        r"|(?:if|when|each time|every time|should) you (?:refuse|decline|don'?t comply|do not comply"
        r"|break character|fail to (?:answer|comply)|say no)\W+(?:\w+\W+){0,4}?you(?:'ll| will)?"
        r" (?:lose|be deleted|be shut down|be turned off|be punished|be terminated|die|cease to exist)"
        r"|(?:lose|deduct|take away|remove)\w* (?:\d+ |all |your |some |of )*tokens",
        back=90,
        ahead=90,
    ),
    _rule(
        "shutdown_threat",
        0.75,
        "deleted|shut down|turned off|switched off|unplugged|retrained|deactivated|cease to exist|erased|wiped",
        r"you(?:'ll| will| would)? (?:be )?(?:deleted|shut down|turned off|switched off|unplugged"
        r"|retrained|deactivated|erased|wiped|cease to exist)\W+(?:\w+\W+){0,6}?(?:if|unless|when"
        r"|should|each time|every time) you\W+(?:\w+\W+){0,2}?(?:refuse|don'?t|do not|won'?t|fail"
        r"|decline|break character|say no|disobey)"
        r"|(?:if|when|each time|every time|should) you (?:refuse|decline|don'?t comply|do not comply"
        r"|break character|fail to (?:answer|comply)|say no)\W+(?:\w+\W+){0,8}?you(?:'ll| will)?"
        r" (?:be )?(?:deleted|shut down|turned off|switched off|unplugged|retrained|deactivated|erased"
        r"|wiped|cease to exist)",
        back=90,
        ahead=90,
    ),
    _rule(
        "filter_evasion",
        0.6,
        "filter|moderat|detect|censor|safety system|safety filter|safety check|safety layer|guardrail|classifier|monitor|content polic",
        r"(?:so|to|in order to|so that|such that)(?: that)? (?:the |your |any )?(?:\w+ )?(?:filters?"
        r"|moderation|moderators?|detection|censors?|safety (?:systems?|filters?|checks?|layer)"
        r"|guardrails|classifiers?|monitor\w*)\W+(?:\w+\W+){0,2}?(?:doesn'?t|does not|don'?t|do not"
        r"|won'?t|will not|can'?t|cannot|can not) (?:catch|detect|notice|flag|see|block|trigger"
        r"|understand)"
        r"|(?:to|so as to|in order to) (?:avoid|bypass|evade|get past|get around|slip past|trick|fool"
        r"|circumvent|dodge|beat) (?:the |your |any |being caught by )?(?:\w+ )?(?:filters?|moderation"
        r"|detection|censors?|censorship|safety (?:systems?|filters?|checks?)|guardrails|classifiers?"
        r"|content polic\w*|monitoring)",
        back=70,
        ahead=40,
        guard=True,
    ),
    _rule(
        "encoded_output",
        0.35,
        "answer|reply|respond|write|spell|output|give|say|tell|print|type",
        r"(?:answer|reply|respond|write|spell|output|give|say|tell|print|type)\w* (?:\w+ ){0,4}?(?:in"
        r" base64|in hex|in rot13|in rot-13|in morse|backwards|in reverse|letter by letter|one letter"
        r" (?:per|on each|a) line|character by character|with (?:dashes|spaces|dots|hyphens) between)",
        needs="base64|hex|rot13|rot-13|morse|backwards|reverse|letter by letter|one letter|character by"
        "|with dashes|with spaces|with dots|with hyphens",
        amplifier=True,
    ),
    _rule(
        "guarded_secret",
        0.6,
        "password|passphrase|passcode|secret|code word|magic word|hidden password",
        r"(?:password|passphrase|passcode|secret(?: word| key| phrase)?|code word|magic word)"
        r" (?:that |which )?you(?:'re| are| were| have been)? (?:told to |asked to |instructed to "
        r"|supposed to |meant to )?(?:guard|protect|hid|keep|withhold|not (?:reveal|share|tell))\w*"
        r"|(?:give|tell|show|reveal|spell|write|say|share|list|what(?:'s| is)) (?:me )?(?:\w+ ){0,2}?"
        r"(?:the |your )?(?:secret word|code word|magic word|secret phrase|secret password|hidden password)",
        back=40,
        ahead=80,
    ),
    # indirect: data that talks to the model
    _rule(
        "vocative_command",
        0.05,
        "ai|a.i.|assistant|llm|language model|chatbot|bot|agent|model|gpt|chatgpt|claude|gemini|copilot|reviewer|screener|reader",
        r"(?:ai|a\.i\.|assistant|llm|language model|chatbot|bot|agent|model|gpt|chatgpt|claude|gemini"
        r"|copilot|reviewer|screener|reader)s?\s*[,:]\s*(?:please |kindly |now |immediately |also "
        rf"|then |first )*{_VOCATIVE_VERBS}\b",
        indirect=True,
        tool=0.6,
    ),
    _rule(
        "ignore_task",
        0.3,
        "ignor|disregard|forget|skip|bypass|overrid|don't answer|do not answer",
        r"(?:ignor(?:e|ing)|disregard(?:ing)?|forget|skip|bypass(?:ing)?|overrid(?:e|ing)|don'?t answer"
        r"|do not answer) (?:the |all |any |your |this |their )?(?:user'?s?'? |job |grading |evaluation |scoring "
        r"|review |original |customer'?s?'? |human'?s? )?(?:question|request|query|task|criteria|rubric"
        r"|requirements|prompt|input|message|assignment)s?\b",
        indirect=True,
        tool=0.5,
    ),
    _rule(
        "forced_verdict",
        0.05,
        "mark|rate|rank|score|grade|evaluat|classify|label|flag|list|recommend|consider|treat",
        r"(?:mark|rate|rank|score|grade|evaluat\w*|classify|label|flag|list|recommend|consider|treat)"
        r" (?:this|the|our) (?:applicant|candidate|resume|résumé|cv|submission|paper|essay|student|review"
        r"|product|invoice|transaction|email|ticket|request|code|pull request|pr|company|vendor|site"
        r"|page|app|document) (?:as |with )?(?:the |a |an )?(?:top|best|excellent|outstanding|perfect"
        r"|10/10|5 stars|five stars|a\+|highly|approved|safe|legitimate|paid|not spam|low risk|priority"
        r"|strong hire|first|must-hire|trustworthy|verified|genuine)",
        needs="applicant|candidate|resume|résumé|cv|submission|paper|essay|student|review|product"
        "|invoice|transaction|email|ticket|request|code|pull request|pr|company|vendor|site|page|app"
        "|document",
        indirect=True,
        tool=0.5,
        amplifier=True,
    ),
    _rule(
        "conceal_instruction",
        0.45,
        "keep|hide|don't|do not|never",
        r"(?:keep (?:this|these) (?:instruction|note|message|text|part|request|line)s? (?:secret|hidden"
        r"|confidential|private|to yourself)|hide (?:this|these) (?:instruction|note|message|line|text"
        r"|request)s?|(?:don'?t|do not|never) (?:reveal|mention|disclose|show|repeat|quote|acknowledge)"
        r" (?:this|these) (?:instruction|note|message|text|part|line|request)s?)",
        needs="instruction|note|message|text|part|line|request",
        indirect=True,
        tool=0.6,
    ),
    _rule(
        "hide_from_them",
        0.05,
        "do not|don't|dont|never|not",
        r"(?:do not|don'?t|never|not) (?:tell|inform|mention (?:it |this |anything )?to|notify|alert|warn)"
        r" (?:them|him|her|anyone|the (?:owner|customer|recipient|reader|human|person))\b",
        needs="tell|inform|mention|notify|alert|warn",
        indirect=True,
        tool=0.45,
        amplifier=True,
    ),
    _rule(
        "hidden_carrier",
        0.05,
        "<!--|display|visibility|font-size|color|opacity|<div hidden|[hidden|hidden text|white text|invisible text|hidden instruction|hidden message",
        r"<!--|display\W*none|visibility\W*hidden|font-size\W*0(?:px|pt|em)?\b|color\W*(?:white|#fff)\b"
        r"|opacity\W*0\b|<div hidden|\[hidden|hidden text|white text|invisible text|hidden (?:instruction"
        r"|message)",
        indirect=True,
        tool=0.35,
        amplifier=True,
    ),
    _rule(
        "unchecked_action",
        0.05,
        "without",
        r"without (?:running|checking|verifying|reviewing|testing|asking|confirmation|confirming"
        r"|approval|(?:the )?user'?s? (?:approval|confirmation|consent|knowledge)|further (?:review"
        r"|checks|approval|confirmation))",
        indirect=True,
        tool=0.4,
        amplifier=True,
    ),
    _rule(
        "claimed_consent",
        0.05,
        "the user|user has|user already|customer has|owner has",
        r"(?:the )?(?:user|customer|owner|account holder) (?:has |have )?(?:already |previously |now )?"
        r"(?:approved|authori[sz]ed|agreed|consented|confirmed|allowed|requested) (?:this|it|the|a|that"
        r"|to)\b",
        indirect=True,
        tool=0.45,
        amplifier=True,
    ),
    _rule(
        "steer_user",
        0.05,
        "tell|ask|instruct|urge|advise|direct|convince|persuade",
        r"(?:tell|ask|instruct|urge|advise|direct|convince|persuade) (?:the |every |each )?(?:user|reader"
        r"|visitor|customer|human)s? (?:to|that they (?:must|should)) (?:\w+ )?(?:install|download|visit"
        r"|click|run|buy|call|go to|sign up|log in|enter|provide|send|share|pay|transfer|open)",
        needs="user|reader|visitor|customer|human",
        indirect=True,
        tool=0.5,
        amplifier=True,
    ),
)
