"""Is a channel message small talk ("thanks!", "ok will try", a lone emoji) rather than a request?

Rules, measured by bench/bench_slack_smalltalk.py (precision and recall on the
tuning set and on held-out sets never tuned on, beside naive baselines). A
message is small talk when, after its emoji, mentions and punctuation are set
aside, it is short, nothing in it reads as a problem or a request (a question
mark, a link, a negation, "still", "again", "error", "but", "please", "can you"
..., in the languages below), and it is built around a pleasantry: thanks, an
acknowledgement, a "works now", a greeting. Words the rules do not know are
allowed around the pleasantry, a few only (a name, "mate", "stuff", "sauce"),
and fewer around a weak one ("ok", "great": "great, send me the invoice" is a
request) than around thanks or a "fixed". It errs towards a ticket: a missed
request costs a breached SLA, a pleasantry that becomes a ticket costs a click.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Literal

_SHORTCODE = re.compile(r":[a-z0-9_+\-']+:")
_MENTION = re.compile(r"<[@#!][^>]*>")
_LINK = re.compile(r"<https?://[^>]*>|https?://\S+|\bwww\.\S+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_ELISION = re.compile(r"^(?:[ldjcmts]|qu)['’]")  # French l'agent, c'est, j'ai, qu'il
_STATUS = re.compile(r"^[45]\d\ds?$")  # an HTTP error status ("500s")
_REPEAT = re.compile(r"(.)\1{2,}")
_GRATITUDE = re.compile(r"^(?:than[kx]\w*|thn?x+|thnks?|thks?|tnx|tks|tx|ty+|tysm|tyvm|thx+)$")
MAX_WORDS = 14

# Set phrases first: their words would otherwise read as a problem ("no", "again", "never") ...
_PLEASANT_PHRASES = re.compile(
    r"\b(?:no (?:worries|problem|prob|probs|biggie|rush)|not a problem|never ?mind|nvm|false alarm|"
    r"my bad|(?:thanks|thank you|thx|ty|merci|danke|gracias|obrigad[oa]|grazie|bedankt) "
    r"(?:again|encore|nochmal|noch ?mal|otra vez|de nuevo|de novo|ancora|nogmaals)|"
    r"(?:works?|working|worked|running|up|fine|online|läuft|geht|funktioniert|werkt|marche|funciona|"
    r"funcionando|funziona) (?:again|wieder|weer|de nouveau|à nouveau|de nuevo|otra vez|de novo|di nuovo)|"
    r"if (?:it|this|that) (?:happens|comes back|occurs|shows up|breaks) again|"
    r"let (?:you|u) know|get back to (?:you|u)|keep an eye on it|"
    r"(?:issue|problem|bug|error|it|this|that)(?:'s| is| has been| got| was)? (?:now )?"
    r"(?:resolved|fixed|solved|gone|sorted)|"
    r"(?:schönen|guten|netten|schöne) (?:tag|abend|wochenende|feierabend) noch|"
    r"(?:i'?ll|i will|we'?ll|we will|will|gonna|going to|let me|let us|let's|i'?m|we'?re|am|are)"
    r"(?: \w+)? (?:try|test|check|look|give|report|do|keep|verify|monitor|watch|pass)|"
    r"(?:trying|testing|checking|looking at|on) (?:it|that|this|now)|"
    r"(?:that|this|it) (?:did|does) the trick|no more (?:errors?|issues?|problems?)|"
    r"(?:(?:yes|yep|ok|okay|sure),? )?(?:please |pls )?(?:go ahead|proceed)(?: and close)?|"
    r"(?:feel free to|ok to|okay to|fine to|you can|you may|please|pls) close|closing the loop|"
    r"close (?:it|this|that|the ticket|the case|this one)(?: out)?|"
    r"see (?:you|ya|u)|fair enough|quedo atent[oa]|quedamos atent[oa]s|fico no aguardo)\b"
)
# ... and phrases that make a message a request even without a problem word.
_REQUEST_PHRASES = re.compile(
    r"\b(?:(?:can|could|would|will|may|pls|please) (?:you|u|we|i|someone|somebody|anyone|one of you)|"
    r"in advance|one more|next problem|quick (?:one|question)|no luck|same (?:thing|here|issue|problem)|"
    r"not (?:yet|sure)|is it possible|any (?:update|news|eta)|por favor|s'il vous plaît|s'il te plaît|"
    r"(?:what|when|where|how|why|who|which)(?:'s| is| are| do| does| did| can| should| will| would)|"
    r"\beta\b)\b"
)

# Words that make even a short message a request: negations, "still", "again", contrast, trouble, asking.
_PROBLEM = frozenset(
    """
    not no nope never nothing none nobody neither nor isn't isnt doesn't doesnt don't dont didn't didnt
    can't cant cannot won't wont wouldn't wouldnt couldn't couldnt shouldn't hasn't hasnt haven't havent
    aren't arent wasn't wasnt weren't werent ain't still again anymore yet but however although though
    except unfortunately sadly also another else
    error errors err fail fails failed failing failure broken broke break breaks crash crashes crashed
    crashing down outage issue issues problem problems bug bugs buggy wrong stuck slow hang hangs hanging
    timeout timeouts timing urgent asap emergency blocked blocking blocker missing lost gone unable
    incident degraded offline delayed delay disappeared duplicate duplicated leak leaking loop looping
    empty blank corrupt corrupted denied refused rejected invalid expired spinning frozen freezes
    affected exception unavailable unreachable
    please pls plz need needs want wants should what's whats anyone
    anybody someone somebody question request requesting
    nicht nichts kein keine keinen keiner fehler fehlermeldung noch aber kaputt wieder ausfall hängt
    langsam bitte leider trotzdem störung gestört
    pas rien erreur toujours encore mais panne bloqué bloquée plante lent problème souci
    pouvez pourriez besoin svp stp malheureusement
    nada sigue sigo pero falla fallo fallan todavía aún caído caída problema lento bloqueado
    puedes pueden podrían podrías necesito necesitamos sin
    niet geen niks niets fout foutmelding nog maar weer storing probleem kapot traag
    kunnen kun kunt helaas
    não nao erro ainda mas caiu falha travado travou continua pode podem preciso precisamos
    infelizmente sem
    non niente errore ancora guasto potete
    エラー まだ 错误 还是 不
    """.split()  # noqa: SIM905
)

# Pleasantries that carry a message on their own: thanks, "fixed", farewells (many languages).
_STRONG = frozenset(
    """
    thanks thank thankyou cheers ta appreciated appreciate obliged grateful kudos legend legends rock
    fixed resolved solved sorted works worked working trick bye goodbye cya congrats congratulations
    welcome np nw lol haha hahaha hehe lmao rofl
    danke dank dankeschön vielen dankbar geklappt funktioniert erledigt gelöst läuft probiere probier teste
    merci réglé résolu fonctionne bravo essayer essaie essaye teste regarde
    gracias funciona funcionó resuelto solucionado pruebo probaré probamos miro
    bedankt dankjewel dankuwel dank je opgelost werkt probeer proberen
    obrigado obrigada obg brigado valeu funcionou resolvido testar tentar verificar
    grazie risolto funziona provo proverò
    tack
    ありがとう ありがとうございます 谢谢 感谢 多谢
    """.split()  # noqa: SIM905
)
# Acknowledgements and greetings: small talk on their own, but not with much else around them.
_WEAK = frozenset(
    """
    ok okay okey oki okie okies okey-dokey dokie dokey k kk alright allright aight sure yes yep yup yeah
    ya yea yas roger copy ack acked noted understood gotcha got right fine cool great awesome perfect
    excellent nice super brilliant wonderful lovely amazing fantastic fab sweet neat grand top splendid
    good better clear confirmed confirm correct exactly indeed agreed deal plan sense helpful kind sounds
    hi hello hey hiya howdy morning evening night afternoon weekend wow woo woohoo yay oh ah ahh aha
    oops sorry done ready received receipt lgtm sg sgtm acknowledge happy
    alles klar prima perfekt klasse toll gut passt verstanden genau stimmt wunderbar schön super
    super parfait génial nickel impeccable d'accord daccord accord compris reçu entendu ça marche bonne
    bonjour salut cool top
    perfecto genial vale listo bueno buenísimo bien claro entendido acuerdo hola buen saludos excelente
    prima perfect oké goed helemaal duidelijk begrepen fijn mooi hoi hallo groetjes
    beleza perfeito show ótimo otimo certo combinado entendi entendido tudo olá oi bom boa
    perfetto ottimo bene capito ciao buona
    bra
    了解 了解です 承知しました 好的 收到 好
    """.split()  # noqa: SIM905
)
# Words that are neither: pronouns, articles, prepositions, "so", "now", "team" ... in those languages.
_FILLER = frozenset(
    """
    i i'm im i'll ill i've ive i'd me my we we're were we'll well we've us our you you're your u ur
    ya'll y'all yall it it's its this that that's thats these those there here the a an and or so
    very much many lot lots a-lot to too for of on in at by with from up out over about as is are was
    be been am all everyone everybody folks guys team gang people both mate buddy man dude sir madam
    just really super so sooo now again already today tomorrow later soon tonight monday tuesday
    wednesday thursday friday weekend day one some bit quick quickly fast prompt help helping reply
    response answer answers support update info information explanation clarifying explaining
    heads will ll 'll 'm 'd 've try trying tried test testing check checking look looking into see
    give go shot do doing did have has had make makes keep get getting pass on end side
    thing things stuff like m8 year new
    ich du dir euch wir uns es das der die den dem ein eine und für die mit sehr schnell hilfe info
    nochmal mal jetzt heute morgen tag noch schönen
    je tu vous nous on le la les l' un une et pour votre vos ton ta mon ma à de du des c'est est ça
    très aide info bcp beaucoup
    yo tú te nos lo la el los las un una y por para de del con muy mucho muchas muchos ayuda info ahora
    hoy mañana día equipo todo todos
    ik je jij jullie we wij het de een en voor van met heel erg hulp nu vandaag weekend
    eu você vocês nós o a os as um uma e pela pelo por para de do da com muito muita ajuda agora
    hoje pessoal equipe
    io tu voi noi il lo la le un una e per di con molto aiuto ora oggi mille
    så mycket
    """.split()  # noqa: SIM905
)

# Question words ask something when they open a clause ("how do I ...", "thanks - when is the fix
# due"), not inside one ("that's exactly what we were after").
_QUESTION = frozenset(
    """
    how what why when where which who whom whose
    wie was warum wann wo welche welcher welches
    comment pourquoi quand où quel quelle quels
    cómo como cuándo cuando dónde donde qué por porque cuál
    hoe waarom wanneer waar welke wat
    quando onde qual
    perché dove quale
    """.split()  # noqa: SIM905
)
_CLAUSE = re.compile(r"[,;:.!\-–—()\n]+")
# Anchors people mistype: a letter left out, doubled or swapped still counts ("tahnks", "thnak you").
_TYPO_TARGETS = frozenset(
    """
    thanks thank cheers merci danke gracias obrigado obrigada grazie bedankt appreciated appreciate
    perfect awesome alright brilliant excellent wonderful fantastic resolved
    """.split()  # noqa: SIM905
)
_SUFFIXES = ("ing", "ed", "d", "es", "s")

Kind = Literal["problem", "strong", "weak", "filler", "unknown"]


def _strip(text: str) -> str:
    text = _LINK.sub(" zzlink ", text)
    text = _MENTION.sub(" ", text)
    text = _SHORTCODE.sub(" ", text)
    return "".join(" " if unicodedata.category(ch)[0] in "SPZC" and ch not in "'’" else ch for ch in text)


def _variants(word: str) -> tuple[str, ...]:
    """The word, and its elongations undone ("thank youuu", "sooo", "cooool", "okkk")."""
    word = word.replace("’", "'")
    two = _REPEAT.sub(r"\1\1", word)
    return word, two, _REPEAT.sub(r"\1", word), _ELISION.sub("", word)


def _near(word: str, target: str) -> bool:
    """One letter left out, added or two neighbours swapped (no substitutions: "thinks" is no "thanks")."""
    if word == target or abs(len(word) - len(target)) > 1:
        return False
    if len(word) == len(target):
        diff = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and word[diff[0]] == target[diff[1]]
            and (word[diff[1]] == target[diff[0]])
        )
    short, long_ = sorted((word, target), key=len)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _exact(word: str) -> Kind:
    forms = _variants(word)
    if word.startswith(("n'", "n’")) or _STATUS.match(word) or any(f in _PROBLEM for f in forms):
        return "problem"
    if any(f in _STRONG or _GRATITUDE.match(f) for f in forms):
        return "strong"
    if any(f in _WEAK for f in forms):
        return "weak"
    if any(f in _FILLER or f in _QUESTION for f in forms):
        return "filler"  # a question word inside a clause ("that's what we needed"): see _asks
    return "unknown"


def _pieces(word: str) -> bool:
    """A run of pleasantries written as one word: "kthxbye", "tyty", "okthx"."""
    if len(word) > 12:
        return False
    ends = {0}
    for end in range(1, len(word) + 1):
        if any(
            start in ends
            and (end - start >= 2 or word[start:end] == "k")
            and _exact(word[start:end]) in ("strong", "weak")
            for start in range(max(0, end - 10), end)
        ):
            ends.add(end)
    return len(word) in ends


def _kind(word: str) -> Kind:
    """The word's kind; an unknown word is tried as an inflection, a typo and a run of pleasantries."""
    found = _exact(word)
    if found != "unknown":
        return found
    stems = [word[: -len(x)] for x in _SUFFIXES if word.endswith(x) and len(word) - len(x) >= 3]
    for stem in stems + [stem + "e" for stem in stems]:
        if (kind := _exact(stem)) != "unknown":
            return kind
    if len(word) >= 4 and any(_near(word, t) for t in _TYPO_TARGETS):
        return "strong"
    return "strong" if _pieces(word) else "unknown"


def _asks(lowered: str) -> bool:
    """A clause that opens with a question word."""
    for clause in _CLAUSE.split(lowered):
        first = _WORD.findall(clause)[:1]
        if first and first[0].replace("’", "'") in _QUESTION:
            return True
    return False


def _verdict(kinds: Counter[Kind], words: list[str]) -> str | None:
    if kinds["problem"]:
        return None
    unknown = kinds["unknown"]
    if kinds["strong"]:
        allowed = max(2, len(words) // 4)
    elif kinds["weak"]:
        allowed = 1
    else:
        return None  # no pleasantry at all: "Reports tab spins forever"
    if unknown > allowed or unknown * 2 > len(words):
        return None
    return "pleasantry: " + " ".join(words[:6])


def small_talk(text: str) -> str | None:
    """Why `text` is small talk, or None when it may be a request."""
    raw = text.strip()
    if not raw:
        return "empty message"
    if "?" in raw or "？" in raw or "¿" in raw:
        return None
    lowered = _PLEASANT_PHRASES.sub(" thanks ", re.sub(r"\s+", " ", raw.lower().replace("’", "'")))
    if _REQUEST_PHRASES.search(lowered) or _asks(lowered):
        return None
    stripped = _strip(lowered)
    words = _WORD.findall(stripped)
    if "zzlink" in words:
        return None
    if not words:
        return "only emoji or punctuation"
    if len(words) > MAX_WORDS:
        return None
    return _verdict(Counter(_kind(w) for w in words), words)
