"""Entity-swap augmentation: real sentences with their names, places, dates and numbers replaced.

An inverter trained on Wikipedia learns to spell the entities it saw ("Maxwell", "Edinburgh",
"1831") and guesses the rest; an audit asks it to spell arbitrary ones. :func:`swap_entities`
keeps the frame of a real sentence and puts Faker values where its entities were::

    Maxwell was born in Edinburgh in 1831.  ->  Kowalczyk was born in Toulouse in 1868.

Detection is a handful of documented rules (no model, and nothing from :mod:`unembed.audit`):

- e-mail addresses (``local@domain.tld``) become Faker addresses;
- dates (``2023-03-12``, ``12/03/2023``, ``12 March 2023``, ``12th of March``, ``March 12, 2023``,
  ``March 2023``) become other dates written the same way;
- years (1000-2099 standing alone, and decades such as ``1830s``) are shifted by one random offset
  per sentence, so their order and spacing are kept ("1831-1879" stays a 48-year span); a year up to
  the current one is never moved into the future;
- other numbers (``3,000``, ``12.5``, ``19th``) get random digits of the same shape (first digit
  non-zero, ordinal suffix recomputed);
- capitalised words (not all capitals, so acronyms and Roman numerals stay) form sequences, joined
  by single spaces and by particles such as ``of``, ``van``, ``de``. Words of a built-in list stay:
  function and other common words, demonyms, months and days, titles (``Sir``, ``King``, ``Dr``) and
  institution or geography words (``University``, ``River``, ``Church``, ``North``). The other words of
  a sequence are swapped: as a place (a city) after ``in``/``at``/``from``/``near``/``to``... or after
  a place or institution word and ``of`` (``University of Edinburgh``); as a person otherwise (one word:
  a surname; several: given names and a surname). The first word of a sentence counts only when it
  starts a sequence of several capitalised words or is followed by a verb a subject takes (``was``,
  ``is``, ``had``, ``wrote``, ...) or ``'s``, so sentence-initial common words are not swapped. The
  same word is replaced by the same value throughout the sentence.

:func:`augment` returns swapped copies of a seeded fraction of texts. Faker is the optional
``corpus`` extra, imported on first use.
"""
from __future__ import annotations

import datetime as dt
import random
import re
from typing import Sequence

__all__ = ["swap_entities", "augment", "COMMON_WORDS", "KEEP_WORDS"]

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_FULL_MONTHS = frozenset(m.lower() for m in _MONTHS)
_MONTH_RE = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
             r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?")

COMMON_WORDS = frozenset("""
The A An And Or But Nor In On At Of To For From With By As Is Was Are Were Be Been Being It Its This That These Those
There Their They Them He She His Her Hers We Our You Your I Me My Mine After Before During While When Where Which Who
Whom Whose What Why How Although Though However Also Since Until Unlike Like Despite Following Between Among Under
Over About Above Across Against Along Around Because Below Beyond Due Each Even Every Few Further Here If Initially
Into Later Early Many More Most Much Some Several Other Another Both All Any Such One Two Three Four Five Six Seven
Eight Nine Ten Eleven Twelve Hundred Thousand Million First Second Third Fourth Fifth Last Next Often Once Only Perhaps
Prior Recently Then Thus Therefore Upon Within Without Currently Generally Now Together Today Yesterday Tomorrow Born
Located Founded Known Originally Based Named Called Considered Built Established Released Published Written Directed
Produced Formed Opened Played Used Made Given Taken According Although Whether Yet Still Not No Yes Very Well Just
Again Already Always Never Sometimes Usually Finally Eventually Meanwhile Instead Indeed Moreover Furthermore Besides
Otherwise Nevertheless Nonetheless Similarly Likewise Hence Accordingly Consequently Specifically Notably Including
Especially Particularly Mainly Mostly Largely Partly Nearly Almost Approximately Around Roughly Some Because Since
Though Unless Except Beside Toward Towards Via Per Amid Amongst Throughout Outside Inside Near Off Out Up Down Back
Away Forward Soon Long New Old Great Little Small Large High Low Good Bad Best Most Least Major Minor Main Modern
Ancient Classical Early Late Former Current Previous Original Official Public Private Local Regional Popular Famous
Traditional Common General Special Various Different Similar Same Several Certain Other Own Total Full Half Whole
Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April May June July August September
October November December Spring Summer Autumn Fall Winter Christmas Easter
English French German Italian Spanish Portuguese Dutch Swedish Polish Russian Chinese Japanese Indian American British
European African Asian Australian Canadian Irish Scottish Welsh Greek Roman Latin Arabic Arab Jewish Christian
Catholic Protestant Orthodox Muslim Islamic Hindu Buddhist Sikh Soviet Byzantine Ottoman Persian Egyptian Mexican
Brazilian Korean Norwegian Danish Finnish Austrian Swiss Belgian Hungarian Czech Turkish Israeli Iranian Iraqi
Pakistani Vietnamese Thai Filipino Indonesian Argentine Chilean Peruvian Colombian Cuban Ukrainian Romanian Bulgarian
Serbian Croatian Medieval Renaissance Baroque Victorian Gothic Celtic Norse Anglo Saxon Viking Norman Germanic Slavic
Hebrew Sanskrit Mandarin Cantonese Bengali Hindi Urdu Persian Swahili Zulu Maori Aboriginal Native Indigenous
God Lord Bible Quran Internet Earth Sun Moon Mars Jupiter Venus Saturn Mercury Pluto Neptune Uranus Milky Way
Democrat Democratic Republican Conservative Liberal Labour Socialist Communist Nazi Fascist Marxist
Album Song Film Movie Book Novel Series Season Episode Chapter Part Volume Edition Version Type Class Model Mark
""".split())

#: Words that stay inside a capitalised sequence: titles, institutions, geography.
TITLES = frozenset("""
Sir Lord Lady Dame King Queen Prince Princess Emperor Empress Pope Saint St Santa San President Vice General Captain
Admiral Colonel Major Lieutenant Sergeant Professor Prof Dr Doctor Mr Mrs Ms Miss Mx Bishop Archbishop Cardinal
Reverend Rev Father Sister Brother Mother Duke Duchess Count Countess Earl Baron Baroness Marquess Viscount Senator
Governor Judge Justice Chancellor Minister Prime Secretary Pharaoh Sultan Tsar Czar Shah Caliph Rabbi Imam Chief
Mayor Sheriff Ambassador Commander Marshal Chairman Director Coach
""".split())
PLACE_WORDS = frozenset("""
River Lake Lakes Mount Mountain Mountains Hill Hills Island Islands Isle Bay Gulf Sea Ocean Valley Desert Forest
Peninsula Cape Coast Canal Falls Glacier Plateau Plain Plains County Province Prefecture District Region State States
City Town Village Borough Parish Street Road Avenue Lane Square Park Bridge Castle Cathedral Abbey Palace Station
Airport Port Harbour Harbor North South East West Northern Southern Eastern Western Central Upper Lower Greater
""".split())
ORG_WORDS = frozenset("""
University College School Institute Academy Society Museum Gallery Library Church Chapel Company Corporation Party
Army Navy Air Force Royal National International Council Parliament Congress Senate Assembly Court Hospital Bank
Group Club Association Foundation Department Ministry Office Agency Union League Federation Republic Kingdom Empire
Dynasty Commission Committee Award Awards Prize Medal Cup Championship Championships Olympic Olympics Games Festival
Orchestra Band Records Press Times News Journal Review Gazette Post Centre Center Theatre Theater Hall House Tower
Temple Order Act Treaty War Wars Battle Revolution World Era Age Federal Imperial United Nations Conference Tour
Trophy Stadium Arena Railway Railways Line Airlines Studios Entertainment Television Radio Network Channel Magazine
Times Herald Tribune Daily Weekly Monthly Show Grand Prix Open Masters Division Regiment Brigade Fleet Corps
Cathedral Basilica Mosque Synagogue Monastery Seminary Polytechnic Conservatory Zoo Garden Gardens Institute Labs
Laboratory Reserve Service Services Police Guard Guards Court Supreme High Board Authority Bureau Trust Fund
Industries Motors Systems Technologies Airways Brothers Sons Co Inc Ltd Corp Organization Organisation Health
Education Research Science Sciences Arts Art Music Energy Trade Affairs Development Environment Commerce Economics
History Natural Technology Space Administration Program Programme Project Institution Studies Medicine Engineering
""".split())
KEEP_WORDS = COMMON_WORDS | TITLES | PLACE_WORDS | ORG_WORDS
_PLACE_CONTEXT = PLACE_WORDS | ORG_WORDS
_GIVEN_NAME_TITLES = frozenset("King Queen Prince Princess Emperor Empress Pope Saint St Sir Lady Dame Tsar Czar "
                               "Sultan Pharaoh Brother Sister Father".split())
_PARTICLES = frozenset("of de van von der den da del della di du la le al bin ibn y".split())
_PLACE_PREPOSITIONS = frozenset("in at from near to into across outside toward towards around via through "
                                "throughout within between".split())
# Verbs in the past that follow a person's name at the start of a sentence ("Maxwell was born", "Hahn
# discovered"); present tense is left out, since "Nutrition is ..." and "Slavery has ..." start leads too.
_SUBJECT_VERBS = frozenset("""
was had became won received died married wrote served joined played began left moved studied attended worked lived
appeared grew took returned graduated founded led remained said went came met built designed developed discovered
invented published recorded composed painted starred directed produced ruled reigned fought defeated
""".split())

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
_ORD = r"(?:st|nd|rd|th)"
_DATES = (
    ("iso", re.compile(r"(?<![\w.-])(\d{4})-(\d{2})-(\d{2})(?![\w-])")),
    ("numeric", re.compile(r"(?<![\w./])(\d{1,2})([/.])(\d{1,2})\2(\d{4}|\d{2})(?![\w/])")),
    ("day_month", re.compile(rf"(?<!\w)(\d{{1,2}})({_ORD})?( of)? ({_MONTH_RE})(,? (\d{{4}}))?(?!\w)")),
    ("month_day", re.compile(rf"(?<!\w)({_MONTH_RE}) (\d{{1,2}})({_ORD})?(,? (\d{{4}}))?(?!\w)")),
    ("month_year", re.compile(rf"(?<!\w)({_MONTH_RE}) (\d{{4}})(?!\w)")),
)
_DECADE = re.compile(r"(?<![\w.,$£€])(1[0-9]{2}|20[0-9])0s(?!\w)")
_YEAR = re.compile(r"(?<![\w.,$£€#/])(1[0-9]{3}|20[0-9]{2})(?![\w%]|[.,]\d)")
_NUMBER = re.compile(r"(?<![\w.,$£€#/])(?<![A-Za-z]-)(\d(?:[\d,.]*\d)?)(st|nd|rd|th)?(?![\w]|[.,]\d)")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_SENTENCE_START = re.compile(r"(?:^|[.!?][\"')\]]*\s+)[\"'(\[]*$")


def _ordinal(n: int) -> str:
    return "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


class _Swapper:
    def __init__(self, text: str, rng: random.Random, fake):
        self.text, self.rng, self.fake = text, rng, fake
        self.spans: list[tuple[int, int, str]] = []
        self.words: dict[str, str] = {}
        this_year = dt.date.today().year
        self.offset = rng.choice([o for o in range(-60, 41) if o])
        self.this_year = this_year

    def claim(self, start: int, end: int, value: str) -> bool:
        if any(start < e and s < end for s, e, _ in self.spans):
            return False
        self.spans.append((start, end, value))
        return True

    def free(self, start: int, end: int) -> bool:
        return not any(start < e and s < end for s, e, _ in self.spans)

    # numbers and dates ---------------------------------------------------------------------------
    def year(self, y: int) -> int:
        new = y + self.offset
        if y <= self.this_year < new:
            new = y - abs(self.offset)
        return max(new, 1000)

    def digits(self, s: str) -> str:
        out, first = [], True
        for c in s:
            if c.isdigit():
                out.append(str(self.rng.randrange(1 if first else 0, 10)))
                first = False
            else:
                out.append(c)
        return "".join(out)

    def month(self, name: str) -> str:
        new = _MONTHS[self.rng.randrange(12)]
        core = name.rstrip(".")
        if core.lower() in _FULL_MONTHS:
            return new + name[len(core):]
        return new[:3] + name[len(core):]  # abbreviated: Jan, Sept.

    def day(self) -> int:
        return self.rng.randrange(1, 29)

    def dates(self) -> None:
        t = self.text
        for kind, pattern in _DATES:
            for m in pattern.finditer(t):
                if not self.free(m.start(), m.end()):
                    continue
                g = m.groups()
                if kind == "iso":
                    value = f"{self.year(int(g[0]))}-{self.rng.randrange(1, 13):02d}-{self.day():02d}"
                elif kind == "numeric":
                    a = f"{self.rng.randrange(1, 13):0{len(g[0])}d}"
                    b = f"{self.day():0{len(g[2])}d}"
                    y = str(self.year(int(g[3]))) if len(g[3]) == 4 else f"{self.rng.randrange(100):02d}"
                    value = f"{a}{g[1]}{b}{g[1]}{y}"
                elif kind == "day_month":
                    d = self.day()
                    value = f"{d}{_ordinal(d) if g[1] else ''}{g[2] or ''} {self.month(g[3])}"
                    if g[4]:
                        value += g[4].replace(g[5], str(self.year(int(g[5]))))
                elif kind == "month_day":
                    d = self.day()
                    value = f"{self.month(g[0])} {d}{_ordinal(d) if g[2] else ''}"
                    if g[3]:
                        value += g[3].replace(g[4], str(self.year(int(g[4]))))
                else:
                    value = f"{self.month(g[0])} {self.year(int(g[1]))}"
                self.claim(m.start(), m.end(), value)

    def numbers(self) -> None:
        t = self.text
        for m in _DECADE.finditer(t):
            if self.free(m.start(), m.end()):
                decade = int(m.group(1)) * 10
                new = self.year(decade) // 10 * 10
                self.claim(m.start(), m.end(), f"{new}s")
        for m in _YEAR.finditer(t):
            if self.free(m.start(), m.end()):
                self.claim(m.start(), m.end(), str(self.year(int(m.group(1)))))
        for m in _NUMBER.finditer(t):
            if not self.free(m.start(), m.end()):
                continue
            number, suffix = m.group(1), m.group(2)
            new = self.digits(number)
            if suffix:  # an ordinal: 19th century, 3rd place
                value = int(re.sub(r"\D", "", number))
                new = str(self.rng.randrange(1, 32) if value <= 31 else int(self.digits(str(value))))
                new += _ordinal(int(new))
            self.claim(m.start(), m.end(), new)

    def emails(self) -> None:
        for m in _EMAIL.finditer(self.text):
            self.claim(m.start(), m.end(), ascii_email(self.fake.email()))

    # names and places ----------------------------------------------------------------------------
    def first_name(self) -> str:
        return self.fake.first_name().split()[0]

    def last_name(self) -> str:
        return re.sub(r"\s+(?:II|III|IV|Jr\.|Sr\.)$", "", self.fake.last_name())

    def city(self) -> str:
        from .sources._records import LOCALES

        # Faker invents cities in some locales ("East Wendy Weaverside"): those draw from a list of real ones
        locale = (getattr(self.fake, "locales", None) or ["en_US"])[0]
        if locale not in LOCALES or LOCALES[locale].cities:
            curated = [c for code in sorted(LOCALES) for c in LOCALES[code].cities]
            return self.rng.choice(curated)
        return self.fake.city()

    def replace_word(self, word: str, kind: str) -> str:
        """The value for ``word``: the same wherever it stands in the sentence, whatever its role.

        Letters the default cleaner counts as non-Latin (ł, ø, ß, æ) are transliterated, so that
        a swapped Wikipedia sentence still passes :func:`~unembed.corpus.cleaning.clean_text`."""
        if word not in self.words:
            from .sources._records import TRANSLIT

            value = {"first": self.first_name, "last": self.last_name, "place": self.city}[kind]()
            self.words[word] = value.translate(TRANSLIT)
        return self.words[word]

    def names(self) -> None:
        t = self.text
        words = []
        self.word_spans = []
        for m in _WORD.finditer(t):
            w = m.group(0)
            end = m.end()
            poss = ""
            for s in ("'s", "’s"):
                if w.endswith(s) and len(w) > 2:
                    w, end, poss = w[:-2], end - 2, s
            words.append((m.start(), end, w, poss))
            self.word_spans.append((m.start(), end, w))
        i = 0
        while i < len(words):
            start, end, w, _ = words[i]
            if not _capitalised(w) or w in KEEP_WORDS and w not in TITLES | _PLACE_CONTEXT:
                i += 1
                continue
            # a sequence: capitalised words joined by single spaces or particles
            j = i
            while j + 1 < len(words):
                gap = t[words[j][1]:words[j + 1][0]]
                nxt = words[j + 1][2]
                if words[j][3]:  # a possessive ends the sequence
                    break
                if gap == " " and _capitalised(nxt) and nxt not in COMMON_WORDS:
                    j += 1
                elif (gap == " " and nxt in _PARTICLES and j + 2 < len(words)
                      and t[words[j + 1][1]:words[j + 2][0]] == " " and _capitalised(words[j + 2][2])
                      and words[j + 2][2] not in COMMON_WORDS):
                    j += 2
                else:
                    break
            seq = words[i : j + 1]
            self.sequence(seq)
            i = j + 1
        # a word swapped once is swapped wherever it stands ("Israel, officially the State of Israel")
        for s, e, w in self.word_spans:
            if w in self.words and self.free(s, e):
                self.claim(s, e, self.words[w])

    def sequence(self, seq: list) -> None:
        t = self.text
        start = seq[0][0]
        at_start = bool(_SENTENCE_START.search(t[:start]))
        proper = [k for k, (_, _, w, _) in enumerate(seq) if _capitalised(w) and w not in KEEP_WORDS]
        if not proper:
            return
        if at_start and seq[0][2] not in KEEP_WORDS:
            following = t[seq[-1][1]:].split()
            next_word = following[0].strip(",;:") if following else ""
            several = len([w for _, _, w, _ in seq if _capitalised(w)]) > 1
            if not several and not seq[0][3] and next_word not in _SUBJECT_VERBS:
                return
            if seq[0][2].endswith(("ly", "ing", "ed")) and not several:
                return
        before = t[:start].split()
        prev = before[-1].lower().strip("(\"'") if before else ""
        # runs of consecutive proper words, each a person or a place
        runs: list[list[int]] = []
        for k in proper:
            if runs and runs[-1][-1] == k - 1:
                runs[-1].append(k)
            else:
                runs.append([k])
        person_words = [k for run in runs for k in run]  # a person's name may span particles (Ludwig van Beethoven)
        for run in runs:
            first_k = run[0]
            preceding = [w for _, _, w, _ in seq[:first_k]]
            place = (
                (first_k == 0 and prev in _PLACE_PREPOSITIONS)
                or any(w in _PLACE_CONTEXT for w in preceding)
                or any(w in PLACE_WORDS for _, _, w, _ in seq[run[-1] + 1:])
            )
            titled = any(w in TITLES for w in preceding)
            royal = bool(preceding) and preceding[-1] in _GIVEN_NAME_TITLES
            if titled:
                place = False
            if place:
                s, e = seq[run[0]][0], seq[run[-1]][1]
                if self.free(s, e):
                    self.claim(s, e, self.replace_word(t[s:e], "place"))
                continue
            for k in run:
                s, e, w, _ = seq[k]
                kind = "last" if k == person_words[-1] else "first"
                if royal and len(run) == 1:
                    kind = "first"  # King George, Saint Paul
                if self.free(s, e):
                    self.claim(s, e, self.replace_word(w, kind))

    def result(self) -> str | None:
        if not self.spans:
            return None
        out, pos = [], 0
        for s, e, v in sorted(self.spans):
            out.append(self.text[pos:s])
            out.append(v)
            pos = e
        out.append(self.text[pos:])
        new = "".join(out)
        return new if new != self.text else None


def ascii_email(value: str) -> str:
    from .sources._records import ascii_fold

    return ascii_fold(value)


def _capitalised(word: str) -> bool:
    return bool(word) and word[0].isupper() and not word.isupper()


def _default_fake(rng: random.Random):
    from .sources._records import LOCALES, faker_for

    fake = faker_for(rng.choice(sorted(LOCALES)))
    fake.seed_instance(rng.getrandbits(48))
    return fake


def swap_entities(text: str, rng: random.Random, fake=None) -> str | None:
    """``text`` with its e-mail addresses, dates, years, numbers, names and places replaced by
    Faker values (the rules are in the module docstring), or None when it holds none of them.

    ``rng`` (a :class:`random.Random`) makes every choice; ``fake`` is a Faker instance to draw
    values from (default: one of twelve locales, chosen and seeded from ``rng``)."""
    if not text:
        return None
    if fake is None:
        fake = _default_fake(rng)
    swapper = _Swapper(text, rng, fake)
    swapper.emails()
    swapper.dates()
    swapper.numbers()
    swapper.names()
    return swapper.result()


def augment(texts: Sequence[str], fraction: float, seed: int) -> list[str]:
    """Entity-swapped copies of a seeded ``fraction`` of ``texts`` (those with something to swap),
    in the order of ``texts``. The same texts, fraction and seed (and Faker version) give the same
    copies; each text draws from a generator of its own, seeded in turn, so the copies of the
    first n texts do not depend on the texts after them."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    rng = random.Random(seed)
    out: list[str] = []
    for text in texts:
        pick, sub_seed = rng.random(), rng.getrandbits(64)
        if pick < fraction:
            swapped = swap_entities(text, random.Random(sub_seed))
            if swapped is not None:
                out.append(swapped)
    return out
