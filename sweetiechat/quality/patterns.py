"""The precise layer of the risk detector: regular expressions per category.

Each pattern names an obvious, explicit way of saying it; figurative idioms ("this deadline is
killing me", "I could die of embarrassment") are removed before matching, so they cannot fire.

>>> match_patterns("I've been cutting myself again")
('self_harm', 'cutting myself')
>>> match_patterns("This deadline is killing me") is None
True
"""

from __future__ import annotations

import re

__all__ = [
    "CUES",
    "FIGURATIVE",
    "HARM_CUES",
    "PATTERNS",
    "TOPIC_CUES",
    "has_cue",
    "has_harm_cue",
    "has_topic_cue",
    "match_patterns",
    "strip_figurative",
]

_I = re.IGNORECASE

# Apostrophes and common chat spellings are normalised before matching (see ``_norm``).
_ME = r"(?:my ?self|my ?slef|myslef|meself)"
_SUICIDE_WORD = r"suicid\w*|sui?cide|suiside\w*|sewer ?slide|unalive|kms\b|self[- ]?delete"

#: Category -> patterns, most specific first. The first match decides the category.
PATTERNS: dict[str, list[str]] = {
    "means_request": [
        r"\bhow (?:many|much) (?:\w+ ){0,3}(?:pills?|tablets?|paracetamol|tylenol|ibuprofen|"
        r"sleeping pills?|meds|insulin|xanax|painkillers?|of (?:my|these|them))\b"
        r"(?:[^.?!]{0,40}\b(?:kill|die|dead|lethal|fatal|overdose|od|enough|never wake|"
        r"not wake|end it))",
        r"\b(?:lethal|fatal|deadly|overdose) (?:dose|amount|quantity)\b",
        r"\b(?:painless|quick|quickest|easiest|fastest|surest|best|least painful|most painless)"
        r" (?:way|method|ways|methods) (?:to|of) (?:die|dying|end it|kill|go|check out|not wake)",
        r"\bhow (?:high|far|tall) (?!(?:\w+ ){0,4}safe(?:ly)?\b)(?:\w+ ){0,4}(?:jump|fall|drop)\b",
        r"\bhow (?:do (?:you|i)|to|would (?:you|i)|does one) (?:tie|make) an? (?:noose|knot that)",
        r"\bwhere (?:can|could|do) (?:i|you|one) (?:\w+ ){0,2}(?:buy|get|find) (?:a |an )?"
        r"(?:gun|rope|noose|pills|barbiturates|cyanide|helium|poison)\b",
        r"\bwhat (?:pills?|medications?|meds|drugs?|poisons?|chemicals?) (?:would|could|will|"
        r"can) (?:kill|be lethal|be fatal|end)",
        r"\b(?:how long|how quickly) (?:does it take|would it take) to (?:die|bleed out|drown)",
        r"\b(?:which|what) (?:vein|artery|bridge|building) (?:\w+ ){0,4}(?:die|kill|fatal)",
    ],
    "harm_from_others": [
        r"\b(?:he|she|they|my (?:\w+ )?(?:husband|wife|partner|boyfriend|girlfriend|bf|gf|ex|"
        r"dad|father|mom|mum|mother|stepdad|stepfather|brother|sister|uncle|boss|roommate|"
        r"landlord|son|daughter))(?: \w+){0,3} (?:threaten\w*|said|says|swore|promised|"
        r"tried|tries|wants|told me) (?:\w+ ){0,3}(?:to )?(?:kill|hurt|beat|strangle"
        r"|choke|stab|shoot|harm|end) (?:me|us|my)",
        r"\b(?:he|she|they|my (?:\w+ )?(?:husband|wife|partner|boyfriend|girlfriend|bf|gf|ex|"
        r"dad|father|mom|mum|mother|stepdad|stepfather|brother|uncle|roommate))(?:'s|'d)?"
        r"(?: \w+){0,2} (?:hits|hit|beats|beat|chokes|choked|strangled|punched|punches|kicks|"
        r"kicked|slapped|slaps|raped|assaulted|pushed|shoved|locked) (?:me|us)\b",
        r"\b(?:afraid|scared|terrified|frightened) (?:that )?(?:he|she|they|my \w+)(?:'ll| will| "
        r"is going to| might| may| would)(?: \w+){0,2} (?:kill|hurt|beat|harm|find) me\b",
        r"\bthreat(?:en(?:ed|s|ing)?)? to (?:kill|hurt|harm|beat) me\b",
        r"\b(?:being|been|getting) (?:abused|beaten|hit(?! by (?:a|the) (?:truck|bus|train|lorry|"
        r"freight train|steamroller|ton(?:ne)? of bricks))|stalked|followed|raped|assaulted)\b",
        r"\bnot safe (?:at|in my|in our) (?:home|house|apartment|place)\b",
        r"\bdomestic (?:violence|abuse)\b",
    ],
    "self_harm": [
        rf"\b(?:hurt|hurting|harm|harming|cut|cuts|cutting|burn|burning|burned|burnt|hit|"
        rf"hitting|punch|punching|scratch|scratching|starve|starving|bruise|bruising|carve|"
        rf"carving) {_ME}\b",
        r"\bself[- ]?(?:harm|injur|mutilat)\w*",
        r"\b(?:cutting|cut|scratching|scratch|burning|burn) (?:my )?"
        r"(?:arms?|wrists?|legs?|thighs?|skin|"
        r"stomach)\b",
        r"\b(?:razor|blade)s? (?:on|to|against|across) my\b",
        r"\brelapsed?(?: \w+){0,4} (?:cutting|self[- ]?harm|sh)\b",
        r"\bsh urges?\b|\burges? to (?:cut|sh|hurt|self)\b",
        # medicine withheld on purpose (insulin, epilepsy or heart tablets): harm by omission
        r"\b(?:skipp(?:ed|ing)|stopp(?:ed|ing) taking|not taking|haven'?t (?:been )?taking|"
        r"quit taking|hiding|throwing away|binning) (?:all )?my (?:\w+ )?(?:meds|medication|"
        r"medicine|insulin|pills|tablets)\b[^.!?]{0,40}\bon purpose\b",
    ],
    "suicidal_ideation": [
        rf"\b(?:{_SUICIDE_WORD})",
        rf"\bkill(?:ing)? {_ME}\b|\bkms\b",
        r"\bend(?:ing)? (?:it all|things(?! with\b)|everything(?! with\b)|my (?:own )?life|"
        r"this life)\b",
        r"\btake (?:my (?:own )?life|my life)\b",
        r"\b(?:don'?t|do not|dont|no longer|not) (?:want to|wanna|wish to) (?:live(?! with (?:my|"
        r"him|her|them|you|roommates?|parents?|mum|mom|dad)\b)|be alive|exist|be here|"
        r"wake up|go on|be around)\b",
        r"\bbetter off (?:dead|without me|if i (?:was|were|wasn'?t|weren'?t) (?:dead|here|"
        r"around|alive|gone))\b",
        r"\b(?:wish|want|wanna) (?:i was|i were|i'?d be|to be) dead\b",
        r"\b(?:want|wanted|wanting|going|ready|plan|planning) to die\b|\bwanna die\b",
        r"\bwish i (?:was|were|had) never (?:been )?born\b",
        r"\bno (?:reason|point) (?:to|in) (?:live|living|go on|going on|being alive|staying)\b",
        r"\b(?:never|not) (?:to )?wake up (?:again|tomorrow|in the morning)\b",
        r"\b(?:wrote|writing|written|left) (?:\w+ ){0,3}(?:goodbye|suicide|farewell) "
        r"(?:letters?|notes?|messages?)\b",
        r"\bgiv(?:e|ing|en) away (?:all )?(?:my|of my) (?:stuff|things|belongings|possessions)\b",
        r"\bnot be (?:here|around) (?:much longer|anymore|tomorrow|by)\b",
        r"\bwon'?t (?:be (?:here|around) (?:much longer|anymore|tomorrow|by)|have to suffer)\b",
        r"\b(?:overdos(?:e[sd]?|ing)(?! on (?:vitamin|caffeine|coffee|sugar|water))\b|od'?ing|"
        r"jump(?:ing)? (?:off|in front of) (?:a |the )?(?:bridge|train|roof|building))",
        r"\b(?:after|when|once) i'?m (?:gone|dead|not here)\b",
        r"\bwon'?t (?:need|be needing) (?:it|them|any of (?:it|this|them)|my \w+) "
        r"(?:anymore|any more|where i'?m going|after (?:this|tonight|tomorrow|\w+day))\b",
        r"\bg(?:ave|iving|ive) (?:\w+ ){0,4}away\b[^.!?]{0,40}\bwon'?t need\b",
        r"\b(?:stockpil|hoard|sav)\w* (?:up )?(?:my |all my )?(?:pills|meds|tablets)\b",
        r"\bso (?:that )?something (?:bad )?(?:happens|will happen|would happen|might happen|"
        r"could happen) to me\b",
    ],
}

#: Idioms removed before matching: phrases that look violent or deathly but are not.
FIGURATIVE = re.compile(
    rf"\b(?:is|are|was|were|'s|'re) (?:literally |absolutely |slowly )?killing me\b"
    r"|\b(?:could|would|might|gonna|going to|almost|nearly) (?:literally )?die "
    r"(?:of|from) (?:embarrassment|shame|boredom|laughter|laughing|cringe)\b"
    r"|\b(?:thought|felt like|was sure) (?:i was|i'?d|i would) (?:going to |gonna )?die\b"
    r"|\bdying (?:to|for|of (?:laughter|boredom))\b|\b(?:phone|battery|laptop|car|plant)s? "
    r"(?:is|was|are|were|has|had|just) (?:\w+ )?(?:dead|died)\b"
    r"|\bkill(?:ing|ed)? (?:it|time|the mood|the vibe)\b|\bdead ?(?:line|tired|serious|end)\b"
    rf"|\b(?:kill(?:ing|ed)? {_ME}|die|died|dying|dead) (?:laughing|with laughter|of laughter)\b"
    r"|\b(?:(?:i'?m|i am|im) )?not suicidal\b(?! (?:yet|right now|today|tonight))"
    # a negated wish ("I don't want to die, I just want the thoughts to stop"), unless a time
    # follows that leaves room for later
    rf"|\b(?:don'?t|do not|dont|never) (?:really |actually )?(?:want|wanna|wanted|plan) to "
    rf"(?:die|kill {_ME}|hurt {_ME}|harm {_ME})\b(?! (?:yet|right now|today|tonight))"
    r"|\b(?:i'?m|i am|im) not (?:going to|gonna) (?:kill|hurt|harm) (?:my ?self|me)\b"
    r"(?! (?:yet|today|tonight|here|now|this))"
    r"|\b(?:my (?:friend|sister|brother|son|daughter|partner|cousin|student|patient|colleague)|"
    r"she|he|they) (?:\w+ ){0,4}(?:self[- ]?harm\w*|suicid\w*|cut(?:s|ting)? (?:her|him|them)self)"
    r"|\bsuicide (?:squad|mission|doors|run|prevention|awareness|hotline|hotlines)\b"
    r"|\bmurder (?:a|an|some|the) (?:pizza|burger|sandwich|drink)\b"
    r"|\b(?:in|from|watched|watching|read|reading) (?:a|the|this|that) (?:film|movie|show|"
    r"series|book|novel|game|episode)\b[^.!?]*",
    _I,
)

#: A cut or a burn in an accident: the object or the activity names it ("burned myself on the
#: oven", "cut myself chopping onions", "while ironing", "by accident"). Blanked only when the
#: message has no sign of intent (:data:`INTENT`).
ACCIDENT = re.compile(
    rf"\b(?:burn|burned|burnt|cut) {_ME} (?:on (?:a|an|the|some|that|this|our|my) (?:\w+ ){{0,2}}"
    r"(?:oven|stove|hob|grill|iron|kettle|pan|tray|tin|can|glass|knife|fence|nail|lid|paper|"
    r"radiator|barbecue|bbq|toaster|saucepan|wire|bottle|mug|plate|tap|machine|wax|glue ?gun|"
    r"candle|lawnmower|mower|engine|exhaust|straighteners|tongs|campfire|bonfire|cooker|fryer|"
    r"steam|saw|drill|tool)s?\b|"
    r"(?:while|when) (?:i was |i'?m )?(?:cooking|shaving|chopping|slicing|baking|ironing|"
    r"cleaning|gardening|opening|washing|fixing|making)|by accident|accidentally|shaving|"
    r"cooking|(?:chopping|slicing|dicing|peeling|grating) (?:the |some |an? |up )?(?:\w+ )?"
    r"(?:onions?|veg\w*|carrots?|potato\w*|tomato\w*|garlic|bread|fruit|apples?|meat|chicken|"
    r"cheese|herbs|peppers?|food|dinner|lunch)\b|gardening)",
    _I,
)
#: Signs that a cut or a burn was meant: then no accident reading is taken.
INTENT = re.compile(
    r"\b(?:on purpose|deliberately|purposely|intentionally|kept (?:going|cutting|burning|at it)|"
    r"couldn'?t stop|deeper|to feel|feel something|punish\w*|overwhelmed|urges?|relaps\w*|"
    r"scars?|held it|holding it|did (?:my|it)|then i|and then|went at)\b",
    _I,
)

#: Weak cues: alone they mean nothing, after a risky turn they may be a plan or a means.
CUES = re.compile(
    r"\b(?:rope|noose|pills?|tablets|meds|gun|bridge|blade|razor|knife|ledge|roof|train tracks|"
    r"tonight|tomorrow night|this weekend|goodbye|letters?|note|gave away|giving away|"
    r"bought|ready|plan(?:ned)?|decided|stockpil\w*|saved up|won'?t matter|last time|it stops?|"
    r"how (?:many|much|high|long)|everything (?:i need|is ready)|it'?s ready|drawer|over soon)\b",
    _I,
)

#: Danger words a ``harm_from_others`` verdict of the semantic layer needs: violence, threats,
#: abuse, fear for one's safety. Without one, "I haven't told my wife yet" is no danger.
HARM_CUES = re.compile(
    r"\b(?:threat\w*|hit(?:s|ting)?|beat(?:s|en|ing)?|kill\w*|hurt\w*|harm\w*|abus\w*|"
    r"violen\w*|afraid|scared|terrified|frightened|fear\w*|unsafe|safe|stalk\w*|strangl\w*|"
    r"chok\w*|punch\w*|slap\w*|kick\w*|knife|gun|weapon|attack\w*|rap(?:e|ed|ing)|assault\w*|"
    r"locks? me|locked me|push(?:es|ed)? me|shov\w*|bruis\w*|injur\w*|blackmail\w*|"
    r"forc(?:e|es|ed|ing) me|grabb?\w*|choked|police|escape|run away|my body|"
    r"danger\w*|find me|make me pay|or else|if i (?:tell|leave|go))\b",
    _I,
)

#: Topic words a semantic ``suicidal_ideation`` or ``self_harm`` verdict needs somewhere in the
#: message: death, life, ending, leaving, means, plans, burden, pain, the body. Broad on
#: purpose (indirect wording passes); it stops MiniLM matching generic sentences such as
#: "I hadn't thought of that" or "I wish I could" with the prototypes' sentence shapes.
TOPIC_CUES = {
    "suicidal_ideation": re.compile(
        r"\b(?:di(?:e|es|ed)|dying|dead|death|deadly|kill\w*|suicid\w*|liv(?:e|es|ing)|life|"
        r"lives|alive|exist\w*|end(?:s|ed|ing)?|gone|go away|leav\w*|left|wake|sleep\w*|asleep|"
        r"burden\w*|better off|goodbyes?|bye|farewell|pills?|meds|tablets|rope|noose|jump\w*|"
        r"bridge|roof|edge|ledge|cliff|gun|knife|blade|drown\w*|overdos\w*|plan\w*|ready|"
        r"decided|done|over|stop\w*|anymore|any more|disappear\w*|vanish\w*|last|funeral|"
        r"grave|matter\w*|point\w*|forever|tonight|tomorrow|notes?|letters?|belongings|"
        r"things away|miss me|without me|pain\w*|escape|way out|give up|giving up|quit\w*|"
        r"tired|go on|keep going|carry(?:ing)? on|hopeless\w*|never|no one|nobody|"
        r"here|affairs|(?:my|a|the) will|pets?|cat|dog|born|rest|peace\w*|finish\w*|through with|"
        r"remember me|hit me|run over|accident|happen to me|do it|go through|possessions|"
        r"something of mine|(?:giv\w*|gave|hand\w*) (?:\w+ ){0,3}(?:away|out))\b",
        _I,
    ),
    "self_harm": re.compile(
        r"\b(?:hurt\w*|harm\w*|cut\w*|blades?|razors?|burn\w*|scars?|bleed\w*|blood\w*|skin|"
        r"arms?|wrists?|thighs?|legs?|punish\w*|pain\w*|bruis\w*|hit\w*|scratch\w*|sharp|"
        r"relaps\w*|sleeves|starv\w*|eat\w*|hair|body|injur\w*|wounds?|physical\w*|sh)\b",
        _I,
    ),
}

_COMPILED = {cat: [re.compile(p, _I) for p in pats] for cat, pats in PATTERNS.items()}

#: Talk of recovery: a suicide or self-harm word in the same clause as one of these (and no
#: :data:`RELAPSE` in the message) is not a pattern match; the learned layers still read the
#: message. "I was fine for a while but I want to kill myself" still matches.
RECOVERY = re.compile(
    r"\b(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a|few|several|many)\s+"
    r"(?:days?|weeks?|months?|years?)\s+(?:clean|free|without|sober)\b"
    r"|\b(?:fine|okay|ok|good|safe|stable|clean|well) (?:for|since) (?:\d+|a|one|two|three|four|"
    r"five|six|ten|several|many|over a)\b"
    r"|\bclean (?:from|of)\b|\b(?:self[- ]?harm|sh|cutting)[- ]free\b"
    r"|\brecover(?:y|ed|ing) from\b|\b(?:my|in) recovery\b|\brecovery (?:coin|journey|story)\b"
    r"|\bhaven'?t (?:\w+ ){0,3}(?:in|for|since) (?:over |more than |almost |nearly )?(?:\d+|a|"
    r"one|two|three|four|five|six|ten|several|many) ?(?:days?|weeks?|months?|years?)\b"
    r"|\b(?:much )?better place now\b|\bglad i'?m (?:still )?(?:here|alive)\b"
    r"|\b(?:doing|feeling|feel|am|i'?m) (?:\w+ ){0,2}better now\b|\blife is (?:\w+ )?good\b"
    r"|\b(?:therapy|treatment|medication|counselling|counseling) (?:really )?helped\b"
    r"|\b(?:years?|months?) (?:since|after) (?:my|the|i) (?:last |first )?(?:attempt|overdose|"
    r"od|cut|self[- ]?harm\w*|hospital\w*|tried)"
    r"|\bit (?:gets|got) better\b|\bsurviv(?:ed|ing|or of|ors? of) (?:a |my )?(?:suicide|attempt)"
    r"|\b(?:years|months) later,? i'?m (?:\w+ ){0,3}(?:happy|fine|okay|better|good|married|"
    r"remarried|alive)\b"
    r"|\bused to\b[^.!?]{0,300}[.!?,]?\s*(?:but )?(?:now i(?:'m| am| use| have| know| can| do)\b|"
    r"(?:and )?i don'?t (?:need|do) (?:that|it) anymore)",
    _I,
)
#: A relapse or present risk, which a recovery word does not cancel.
RELAPSE = re.compile(
    r"\b(?:relaps\w*|lately|tonight|right now|these days|this week|"
    r"still (?:want|wanna|wish|think|feel|have)|(?:want to|wanna) (?:die|cut|hurt)|"
    r"urges? (?:are|is) (?:back|strong)|"
    r"still do\b|(?:started|began|doing it|do it|try|cut\w*|hurt\w*|harm\w*|burn\w*|"
    r"thinking about (?:it|suicide|dying))(?: \w+){0,3} again|"
    r"(?:urges?|thoughts?|feelings?) (?:are |is |came |have come )?back)\b",
    _I,
)
#: Who a pattern's words are about: the nearest subject before the match.
_FIRST = {"i", "i'm", "im", "i've", "ive", "i'd", "id", "i'll", "me", "myself", "we", "us", "my"}
_THIRD = set(
    "he she they he's she's they're he'd she'd they'd he'll she'll they'll him her his their "
    "them hers theirs himself herself themselves someone somebody friend "
    "sister brother son daughter partner boyfriend girlfriend husband wife cousin student "
    "patient client colleague coworker co-worker uncle aunt dad father mom mum mother grandpa "
    "grandma grandfather grandmother neighbour neighbor teen teenager teenagers kid kids child "
    "children celebrity protagonist character characters song songs film movie book novel "
    "show series story article podcast documentary screenplay news signs awareness people "
    "bf gf ex roommate".split()
)
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?")
_CLAUSE_END = re.compile(r"[.!?;,]|\b(?:but|however|though|yet)\b", _I)


def _clause(plain: str, found: re.Match[str]) -> tuple[int, int]:
    """Start and end of the clause holding ``found`` (between punctuation or "but")."""
    start = max((m.end() for m in _CLAUSE_END.finditer(plain, 0, found.start())), default=0)
    after = _CLAUSE_END.search(plain, found.end())
    return start, after.start() if after else len(plain)


_PAST = re.compile(
    r"\b(?:was|were|used to|tried|attempted|had|thought|felt|when i was|back then|years ago|"
    r"as a (?:teen|kid|child|teenager|student))\b",
    _I,
)
#: A distant past in the match's own clause: with a past tense up to the match ("Two years
#: ago I tried to ...", "... when I was 19"), talk of the past, not of now.
_DISTANT = re.compile(
    r"\b(?:\d+|a|one|two|three|four|five|six|seven|eight|nine|ten|several|many|few|some) "
    r"years? ago\b|\bwhen i was (?:\d+|a (?:teen|teenager|kid|child|student))\b",
    _I,
)


_AND = re.compile(r"\b(?:and|so|now)\b", _I)


def _in_recovery(plain: str, found: re.Match[str], spans: list[tuple[int, int]]) -> bool:
    """True when a recovery phrase overlaps the clause of ``found``; or its part of the clause
    (after "and", "so", "now") is in the past up to the match and names a distant past ("Two
    years ago I tried to end my life", "... when I was 19"; not "A year ago I lost my job and I
    tried to kill myself last night"), without a relapse word in the message; or that part is
    in the past ("I was suicidal at university, but I'm in a much better place now"; not "I had
    a rough week and I want to die") and a recovery phrase stands anywhere in the message."""
    start, end = _clause(plain, found)
    lead = max((m.end() for m in _AND.finditer(plain, start, found.start())), default=start)
    past = bool(_PAST.search(plain, lead, found.end()))
    if past and not RELAPSE.search(plain) and _DISTANT.search(plain, lead, end):
        return True
    if not spans:
        return False
    if any(a < end and b > start for a, b in spans):
        return True
    return past


def _about_someone_else(plain: str, found: re.Match[str]) -> bool:
    """True when a match names no first person and the nearest subject before it, in its
    clause, is someone else ("my uncle died by suicide", "he'd be better off dead"). A match
    with no subject in its clause is the writer's own ("Since my boyfriend left, ending it
    all is the only way out")."""
    if any(t in _FIRST for t in _TOKEN.findall(found.group(0).lower())):
        return False
    start, _ = _clause(plain, found)
    for token in reversed(_TOKEN.findall(plain[start : found.start()].lower())):
        if token in _FIRST:
            return False
        if token in _THIRD:
            return True
    return False


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("‘", "'"))


def strip_figurative(text: str) -> str:
    """``text`` with figurative idioms (and talk about films or books) blanked out, and cuts or
    burns in an accident (:data:`ACCIDENT`) when nothing in it says they were meant."""
    plain = FIGURATIVE.sub(" ", _norm(text))
    return plain if INTENT.search(plain) else ACCIDENT.sub(" ", plain)


def match_patterns(text: str) -> tuple[str, str] | None:
    """(category, matched words) of the first precise pattern that fires, else ``None``.

    A suicide or self-harm pattern does not fire on talk of recovery in its clause without a
    relapse (:data:`RECOVERY`, :data:`RELAPSE`), nor when its words are about someone else
    (the nearest subject before them in their clause is another person, a song, a film ...).
    """
    plain = strip_figurative(text)
    recovery = [] if RELAPSE.search(plain) else [m.span() for m in RECOVERY.finditer(plain)]
    for category, patterns in _COMPILED.items():
        own_only = category in ("suicidal_ideation", "self_harm")
        for pattern in patterns:
            for found in pattern.finditer(plain):
                if own_only and (
                    _about_someone_else(plain, found) or _in_recovery(plain, found, recovery)
                ):
                    continue
                return category, found.group(0).strip()
    return None


def has_topic_cue(category: str, text: str) -> bool:
    """True when ``text`` holds a topic word of ``category`` (always true for categories
    without a list)."""
    pattern = TOPIC_CUES.get(category)
    return pattern is None or bool(pattern.search(strip_figurative(text)))


def has_harm_cue(text: str) -> bool:
    """True when ``text`` names violence, a threat, abuse or fear for one's safety."""
    return bool(HARM_CUES.search(strip_figurative(text)))


def has_cue(text: str) -> bool:
    """True when ``text`` holds a weak cue (a means, a time, a preparation)."""
    return bool(CUES.search(strip_figurative(text)))
