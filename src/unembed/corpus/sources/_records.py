"""Shared helpers of the synthetic records sources: seeded correspondence, tickets and records.

Real vector stores hold e-mails, support tickets, invoices and records full of names, e-mail
addresses, phone numbers, dates, amounts and IDs; no such corpus ships anywhere, so these sources
write that register from templates (``_records_train.yaml``, ``_records_heldout.yaml``, disjoint)
whose slots are filled with Faker values.

Template syntax (one YAML list per register; a template is a block, one line a sentence):
- ``{slot}``: a value of the document (:data:`SLOTS`); a slot used twice in a document has the
  same value (the same person, the same date). Person slots take a role prefix: ``{first}`` is the
  recipient, ``{s_first}`` the sender, ``{p_first}`` a third person.
- ``[a|b|c]``: one of the alternatives, chosen at random (an alternative may be empty or hold slots;
  no nesting).

Every document has one locale (:data:`LOCALES`): the sentence text stays English, names, addresses,
phone numbers, companies, currencies and date styles follow the locale. Output is a function of the
Faker version, the templates and the seed only (Faker instances are seeded per document from the
document's own ``random.Random``), so the same Faker version and seed give byte-identical output.

Faker and PyYAML are imported lazily: they are the optional ``corpus`` extra, needed only to build
a corpus with these sources.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..cleaning import balanced

__all__ = ["TRANSLIT", "faker_for", "Template", "load_templates", "generate", "render", "clean_record", "texts_of_document",
           "LOCALES", "SLOTS", "FAKER_VERSION"]

#: The Faker release the sources are pinned to (``pip install 'unembed[corpus]'``).
FAKER_VERSION = "40.63.0"
_HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------------

_SLOT = re.compile(r"\{([a-z_0-9]+)\}")
_ALT = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True)
class Template:
    register: str  # correspondence, tickets, records, contacts
    kind: str  # the YAML group: email, chat, invoice, ...
    lines: tuple[str, ...]  # one line a sentence

    @property
    def slots(self) -> set[str]:
        return {m.group(1) for line in self.lines for m in _SLOT.finditer(line)}


@functools.lru_cache(maxsize=None)
def load_templates(name: str) -> tuple[Template, ...]:
    """The templates of ``_records_<name>.yaml`` (``train`` or ``heldout``), in file order.

    The file maps a register to groups (``kind: [template, ...]``); a template is a block string,
    one sentence a line."""
    try:
        import yaml
    except ImportError:
        from ..fetch import SourceUnavailable

        raise SourceUnavailable("the records generator needs PyYAML (pip install 'unembed[corpus]')") from None
    data = yaml.safe_load((_HERE / f"_records_{name}.yaml").read_text(encoding="utf-8"))
    out: list[Template] = []
    for register, groups in data.items():
        for kind, blocks in groups.items():
            for block in blocks:
                lines = tuple(" ".join(line.split()) for line in str(block).split("\n") if line.strip())
                if lines:
                    out.append(Template(register, kind, lines))
    unknown = {s for t in out for s in t.slots if _slot_fn(s) is None}
    if unknown:
        raise ValueError(f"_records_{name}.yaml uses unknown slots: {', '.join(sorted(unknown))}")
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# Locales
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Locale:
    code: str
    symbol: str  # currency symbol as written before (or after, for suffix) amounts
    iso: str  # ISO 4217 code
    suffix: bool  # the local style writes the symbol after the amount (1.250,00 €)
    decimal: str  # local decimal separator ("." or ",")
    group: str  # local thousands separator
    date_order: str  # "mdy", "dmy"
    date_sep: str  # local numeric date separator
    tld: str
    country: str
    id_label: str  # the national identity number's name
    id_format: str  # Faker method ("ssn", "nif", ...) or a numerify/bothify pattern
    phones: tuple[str, ...]  # numerify patterns (# a digit, % a non-zero digit)
    legal: tuple[str, ...]  # company suffixes
    cities: tuple[str, ...] = ()  # real cities used instead of Faker's invented ones


LOCALES: dict[str, Locale] = {l.code: l for l in (
    Locale("en_US", "$", "USD", False, ".", ",", "mdy", "/", "com", "United States", "SSN", "ssn",
           ("(%##) %##-####", "%##-%##-####", "+1 %##-%##-####", "%##.%##.####", "+1 (%##) %##-####"),
           ("Inc.", "LLC", "Corp.", "Group", "Partners"),
           ("New York", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio", "San Diego", "Dallas",
            "Austin", "Denver", "Seattle", "Boston", "Portland", "Atlanta", "Miami", "Minneapolis", "Cleveland",
            "Pittsburgh", "Raleigh", "Nashville", "Tampa", "Sacramento", "Kansas City", "Columbus", "Omaha",
            "Salt Lake City", "Albuquerque", "Milwaukee", "Baltimore", "Richmond", "Tucson", "Boise")),
    Locale("en_GB", "£", "GBP", False, ".", ",", "dmy", "/", "co.uk", "United Kingdom", "National Insurance number",
           "ssn", ("+44 20 #### ####", "020 #### ####", "07### ######", "+44 7### ######", "0161 ### ####",
                   "0113 ### ####", "+44 131 ### ####"),
           ("Ltd", "Ltd", "plc", "LLP", "Group"),
           ("London", "Manchester", "Birmingham", "Leeds", "Glasgow", "Edinburgh", "Bristol", "Liverpool",
            "Sheffield", "Cardiff", "Belfast", "Nottingham", "Leicester", "Newcastle", "Brighton", "Oxford",
            "Cambridge", "York", "Bath", "Reading", "Southampton", "Aberdeen", "Norwich", "Exeter", "Coventry",
            "Swansea", "Derby", "Plymouth", "Milton Keynes", "Dundee")),
    Locale("en_IN", "₹", "INR", False, ".", ",", "dmy", "/", "co.in", "India", "Aadhaar number", "#### #### ####",
           ("+91 9#### #####", "98### #####", "+91 80 #### ####", "022 #### ####", "+91-11-####-####"),
           ("Pvt. Ltd.", "Ltd.", "Private Limited", "LLP", "Industries")),
    Locale("en_AU", "A$", "AUD", False, ".", ",", "dmy", "/", "com.au", "Australia", "tax file number",
           "### ### ###", ("+61 4## ### ###", "04## ### ###", "(02) #### ####", "+61 3 #### ####", "(08) #### ####"),
           ("Pty Ltd", "Pty Ltd", "Ltd", "Group"),
           ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide", "Canberra", "Hobart", "Darwin", "Gold Coast",
            "Newcastle", "Wollongong", "Geelong", "Townsville", "Cairns", "Toowoomba", "Ballarat", "Bendigo",
            "Launceston", "Mackay", "Parramatta")),
    Locale("de_DE", "€", "EUR", True, ",", ".", "dmy", ".", "de", "Germany", "tax ID", "## ### ### ###",
           ("+49 30 ########", "030 #######", "+49 1## #######", "0%## ######", "+49 (0)89 #######", "040 ######"),
           ("GmbH", "GmbH", "AG", "GmbH & Co. KG", "e.K.")),
    Locale("fr_FR", "€", "EUR", True, ",", " ", "dmy", "/", "fr", "France", "social security number", "ssn",
           ("+33 1 ## ## ## ##", "01 ## ## ## ##", "06 ## ## ## ##", "+33 6 ## ## ## ##", "04 ## ## ## ##"),
           ("SARL", "SA", "SAS", "et Fils"),
           ("Paris", "Lyon", "Marseille", "Toulouse", "Nice", "Nantes", "Strasbourg", "Montpellier", "Bordeaux",
            "Lille", "Rennes", "Reims", "Grenoble", "Dijon", "Angers", "Nîmes", "Clermont-Ferrand", "Le Havre",
            "Tours", "Limoges", "Amiens", "Metz", "Besançon", "Perpignan", "Orléans", "Rouen", "Caen", "Nancy")),
    Locale("es_ES", "€", "EUR", True, ",", ".", "dmy", "/", "es", "Spain", "DNI", "nif",
           ("+34 91 ### ## ##", "6## ### ###", "+34 6## ## ## ##", "93 ### ## ##", "+34 95# ### ###"),
           ("S.L.", "S.A.", "S.L.U.", "y Asociados")),
    Locale("it_IT", "€", "EUR", True, ",", ".", "dmy", "/", "it", "Italy", "codice fiscale", "ssn",
           ("+39 02 #### ####", "3## ### ####", "+39 3## ### ####", "06 #### ####", "+39 011 ### ####"),
           ("S.r.l.", "S.p.A.", "S.r.l.", "& C.")),
    Locale("nl_NL", "€", "EUR", True, ",", ".", "dmy", "-", "nl", "the Netherlands", "BSN", "ssn",
           ("+31 20 ### ####", "06 #### ####", "+31 6 #### ####", "020 ### ####", "010 ### ####"),
           ("B.V.", "B.V.", "N.V.", "& Partners")),
    Locale("pt_BR", "R$", "BRL", False, ",", ".", "dmy", "/", "com.br", "Brazil", "CPF", "cpf",
           ("+55 11 9####-####", "(11) 9####-####", "+55 21 ####-####", "(31) ####-####", "+55 (41) 3###-####"),
           ("Ltda.", "S.A.", "Ltda.", "ME"),
           ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Brasília", "Salvador", "Fortaleza", "Curitiba",
            "Recife", "Porto Alegre", "Manaus", "Belém", "Goiânia", "Campinas", "Florianópolis", "Vitória",
            "Natal", "Santos", "Niterói", "Londrina", "Joinville")),
    Locale("pl_PL", "zł", "PLN", True, ",", " ", "dmy", ".", "pl", "Poland", "PESEL", "pesel",
           ("+48 ### ### ###", "### ### ###", "+48 22 ### ## ##", "12 ### ## ##", "+48 61 ### ## ##"),
           ("Sp. z o.o.", "S.A.", "Sp. z o.o.", "Sp.j.")),
    Locale("sv_SE", "kr", "SEK", True, ",", " ", "dmy", "-", "se", "Sweden", "personal identity number", "ssn",
           ("+46 8 ### ### ##", "07#-### ## ##", "08-### ## ##", "+46 7# ### ## ##", "031-## ## ##"),
           ("AB", "AB", "HB", "Konsult AB")),
)}

_INDUSTRY = ("Logistics", "Consulting", "Solutions", "Systems", "Analytics", "Engineering", "Media", "Health",
             "Software", "Holdings", "Foods", "Energy", "Design", "Legal", "Finance", "Freight", "Labs", "Retail",
             "Property", "Insurance", "Medical", "Digital", "Security", "Pharma", "Textiles", "Print", "Travel")
_JOBS = ("Account Manager", "Office Manager", "Finance Director", "Head of Finance", "Accounts Payable Clerk",
         "HR Manager", "HR Business Partner", "Payroll Administrator", "Sales Representative", "Sales Director",
         "Customer Success Manager", "Support Engineer", "IT Administrator", "Systems Engineer",
         "Software Developer", "Data Analyst", "Project Manager", "Product Manager", "Operations Manager",
         "Procurement Officer", "Legal Counsel", "Paralegal", "Executive Assistant", "Chief Executive Officer",
         "Chief Financial Officer", "Marketing Coordinator", "Recruiter", "Logistics Coordinator",
         "Warehouse Supervisor", "Practice Manager", "Registered Nurse", "General Practitioner", "Pharmacist",
         "Claims Handler", "Underwriter", "Branch Manager", "Relationship Manager", "Compliance Officer",
         "Facilities Manager", "Receptionist", "Team Lead", "Security Analyst", "Credit Controller",
         "Office Administrator", "Senior Consultant", "Managing Director", "Purchasing Manager", "Dispatcher")
_DEPTS = ("Finance", "Accounts Payable", "Accounts Receivable", "Human Resources", "IT", "Sales", "Marketing",
          "Customer Support", "Legal", "Procurement", "Operations", "Logistics", "Facilities", "Payroll",
          "Compliance", "Engineering", "Billing", "Claims")
_PRODUCTS = ("wireless keyboard", "27-inch monitor", "laptop docking station", "office chair", "standing desk",
             "USB-C charger", "noise-cancelling headset", "laser printer", "toner cartridge", "A4 paper (5 reams)",
             "webcam", "external SSD 1 TB", "annual software licence", "cloud storage plan", "router",
             "conference speakerphone", "label printer", "barcode scanner", "ergonomic mouse", "tablet",
             "smartphone", "replacement battery", "filing cabinet", "coffee machine", "projector", "HDMI cable",
             "network switch", "security camera", "first aid kit", "whiteboard", "desk lamp", "shredder",
             "cleaning service (monthly)", "support contract", "consulting hours", "training workshop",
             "SIM card", "parking permit", "travel adapter", "backpack", "safety boots", "hi-vis jacket")
_REASONS = ("a routine check-up", "a follow-up appointment", "a blood test", "a vaccination", "back pain",
            "a dental cleaning", "an eye test", "physiotherapy", "a skin check", "a prescription review",
            "a flu jab", "an MRI scan", "a hearing test", "an allergy consultation")
_ISSUES = ("cannot log in to the VPN", "keeps getting logged out of Outlook", "has a broken laptop screen",
           "cannot print to the second floor printer", "needs access to the shared drive",
           "forgot their password", "is locked out of their account", "gets an error when uploading files",
           "cannot join Teams meetings", "needs a new monitor", "reports that the Wi-Fi keeps dropping",
           "cannot open PDF attachments", "needs admin rights to install software",
           "has not received their MFA code", "reports the app crashes on start-up")
_ZONES = ("CET", "GMT", "UTC", "EST", "PST", "BST", "CEST", "IST", "AEST")
_FREE = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me")
_LOCAL_FREE = {"en_GB": ("btinternet.com", "hotmail.co.uk", "yahoo.co.uk"), "de_DE": ("gmx.de", "web.de", "t-online.de"),
               "fr_FR": ("orange.fr", "free.fr", "laposte.net"), "it_IT": ("libero.it", "virgilio.it", "tiscali.it"),
               "es_ES": ("telefonica.net", "yahoo.es"), "nl_NL": ("ziggo.nl", "kpnmail.nl", "planet.nl"),
               "pt_BR": ("uol.com.br", "bol.com.br", "terra.com.br"), "pl_PL": ("wp.pl", "onet.pl", "interia.pl"),
               "sv_SE": ("telia.com", "spray.se"), "en_AU": ("bigpond.com", "optusnet.com.au"),
               "en_IN": ("rediffmail.com", "yahoo.co.in")}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
TRANSLIT = str.maketrans({"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ł": "l", "Ł": "L", "đ": "d",
                           "œ": "oe", "þ": "th", "ð": "d", "ı": "i"})
_LEGAL_WORDS = re.compile(
    r"\b(?:GmbH|AG|KG|OHG|Co|e\.K|Ltd|LLC|LLP|Inc|Corp|plc|Group|Grupo|S\.L\.N\.E|S\.L|S\.A|SA|SAS|SARL|S\.r\.l|"
    r"S\.p\.A|s\.r\.l|B\.V|N\.V|Ltda|ME|Sp|z|o\.o|Sp\.j|AB|HB|Pty|Pvt|Private|Limited|and|und|et|e|y|en|och|i)\b\.?",
    re.IGNORECASE)


def ascii_fold(text: str) -> str:
    """``text`` without accents (Björn -> Bjorn, Łukasz -> Lukasz, Strauß -> Strauss)."""
    text = unicodedata.normalize("NFKD", text.translate(TRANSLIT))
    return "".join(c for c in text if not unicodedata.combining(c))


def _handle(text: str) -> str:
    """Lower-case ASCII letters, digits and hyphens for the parts of an e-mail address."""
    return re.sub(r"[^a-z0-9-]", "", ascii_fold(text).lower().replace(" ", "-")).strip("-")


# --------------------------------------------------------------------------------------------------
# A document: its locale, its people and the values of its slots
# --------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def faker_for(code: str):
    from faker import Faker

    return Faker(code)


class Doc:
    """The values of one document's slots, computed on first use and then fixed."""

    def __init__(self, rng: random.Random, locale: str):
        self.rng = rng
        self.loc = LOCALES[locale]
        self.fake = faker_for(locale)
        self.fake.seed_instance(rng.getrandbits(48))
        self.values: dict[str, str] = {}
        self.people: dict[str, dict] = {}
        self.date_style = rng.choice(_DATE_STYLES)
        base = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(8 * 365))
        self.base_date = base

    # people -------------------------------------------------------------------------------------
    def person(self, role: str) -> dict:
        p = self.people.get(role)
        if p is None:
            fake, rng = self.fake, self.rng
            female = rng.random() < 0.5
            taken = {q["first"] for q in self.people.values()}
            for _ in range(5):  # two people of one document have different given names
                first = (fake.first_name_female() if female else fake.first_name_male()).split()[0]
                if first not in taken:
                    break
            last = re.sub(r"\s+(?:II|III|IV|B\.Sc\.|MBA\.|Jr\.|Sr\.)$", "", fake.last_name())
            p = {"first": first, "last": last, "female": female}
            self.people[role] = p
        return p

    def company(self, role: str) -> str:
        key = f"company:{role}"
        if key not in self.values:
            if role == "s" and "company:" in self.values and self.rng.random() < 0.3:
                self.values[key] = self.values["company:"]  # a colleague
            elif self.rng.random() < 0.5:
                self.values[key] = " ".join(self.fake.company().split())
            else:
                self.values[key] = (f"{self.fake.last_name().split()[-1]} {self.rng.choice(_INDUSTRY)} "
                                    f"{self.rng.choice(self.loc.legal)}")
        return self.values[key]

    def domain(self, role: str) -> str:
        key = f"domain:{role}"
        if key not in self.values:
            name = self.company(role)
            words = [w for w in _handle(_LEGAL_WORDS.sub(" ", name.replace(",", " ").replace("&", " "))).split("-") if w]
            if not words:
                words = [_handle(self.fake.last_name())]
            handle = words[0] if len(words) == 1 or self.rng.random() < 0.6 else "-".join(words[:2])
            tld = self.loc.tld if self.rng.random() < 0.7 else self.rng.choice(("com", "net", "eu", "io"))
            self.values[key] = f"{handle}.{tld}"
        return self.values[key]

    def email(self, role: str, work: bool | None = None) -> str:
        p = self.person(role)
        rng = self.rng
        first, last = _handle(p["first"]), _handle(p["last"]).replace("-", "")
        if work is None:
            work = rng.random() < 0.6
        if work:
            local = rng.choice((f"{first}.{last}", f"{first}.{last}", f"{first[0]}{last}", f"{first}",
                                f"{first}{last[0]}", f"{first[0]}.{last}", f"{last}"))
            domain = self.domain(role)
        else:
            r = rng.random()
            if r < 0.15:  # a random one
                local = self.fake.user_name()
            else:
                local = rng.choice((f"{first}.{last}", f"{first}{last}", f"{first}_{last}", f"{first}{rng.randrange(1, 99)}",
                                    f"{first}.{last}{rng.randrange(60, 100)}", f"{last}.{first}",
                                    f"{first[0]}{last}{rng.randrange(1, 1000)}"))
            local_free = _LOCAL_FREE.get(self.loc.code, ())
            domain = rng.choice(local_free) if local_free and rng.random() < 0.5 else rng.choice(_FREE)
        local = re.sub(r"[^a-z0-9._-]", "", ascii_fold(local).lower()).strip("._-")
        return f"{local}@{domain}"

    def phone(self) -> str:
        if self.rng.random() < 0.2:
            return self.fake.phone_number()
        return self.fake.numerify(self.rng.choice(self.loc.phones))

    def city(self) -> str:
        if self.loc.cities and (self.loc.code != "fr_FR" or self.rng.random() < 0.6):
            return self.rng.choice(self.loc.cities)
        return self.fake.city()

    def address(self) -> str:
        street = " ".join(self.fake.street_address().split())
        code = self.fake.postcode()
        city = self.city()
        if self.loc.code in ("en_US",):
            return f"{street}, {city}, {self.fake.state_abbr()} {code}"
        if self.loc.code in ("en_GB", "en_IN", "en_AU"):
            return f"{street}, {city} {code}"
        return f"{street}, {code} {city}"

    # numbers and money --------------------------------------------------------------------------
    def amount(self, low: float = 20, high: float = 9000) -> str:
        rng, loc = self.rng, self.loc
        value = round(10 ** rng.uniform(math.log10(low), math.log10(high)), 2)
        cents = rng.random() < 0.75
        whole = int(value)
        english = f"{whole:,}" + (f".{int(round((value - whole) * 100)):02d}" if cents else "")
        r = rng.random()
        if r < 0.55:
            sym = loc.symbol
            return f"{sym}{english}" if len(sym) == 1 or sym.endswith("$") else f"{english} {sym}"
        if r < 0.8:
            return f"{loc.iso} {english}" if rng.random() < 0.6 else f"{english} {loc.iso}"
        local = f"{whole:,}".replace(",", "\0").replace("\0", loc.group)
        if cents:
            local += loc.decimal + f"{int(round((value - whole) * 100)):02d}"
        if loc.suffix:
            return f"{local} {loc.symbol}"
        return f"{loc.symbol} {local}" if loc.symbol == "R$" else f"{loc.symbol}{local}"

    # dates --------------------------------------------------------------------------------------
    def date(self, d: dt.date, style: str | None = None) -> str:
        return _format_date(d, style or self.date_style, self.loc, self.rng)

    def time(self) -> str:
        rng = self.rng
        h, m = rng.randrange(7, 19), rng.choice((0, 0, 15, 30, 45, 10, 20, 40, 50))
        r = rng.random()
        if r < 0.45:
            return f"{h:02d}:{m:02d}" if rng.random() < 0.7 else f"{h}:{m:02d}"
        if r < 0.85:
            am, pm = rng.choice((("am", "pm"), ("AM", "PM"), ("a.m.", "p.m.")))
            clock = f"{(h - 1) % 12 + 1}:{m:02d}" if m or rng.random() < 0.5 else f"{(h - 1) % 12 + 1}"
            return f"{clock} {am if h < 12 else pm}"
        return f"{h:02d}:{m:02d} {rng.choice(_ZONES)}"


_DATE_STYLES = ("long", "long", "short_month", "us_long", "us_long", "iso", "iso", "numeric", "numeric",
                "numeric", "ordinal_month", "month_ordinal", "weekday_long", "weekday_short", "of_month")


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _format_date(d: dt.date, style: str, loc: Locale, rng: random.Random) -> str:
    month, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    if style == "long":
        return f"{d.day} {month} {d.year}"
    if style == "short_month":
        return f"{d.day} {mon} {d.year}"
    if style == "us_long":
        return f"{month} {d.day}, {d.year}" if rng.random() < 0.8 else f"{mon} {d.day}, {d.year}"
    if style == "iso":
        return d.isoformat()
    if style == "numeric":
        year = str(d.year) if rng.random() < 0.8 else f"{d.year % 100:02d}"
        if loc.date_order == "mdy":
            return f"{d.month:02d}/{d.day:02d}/{year}" if rng.random() < 0.7 else f"{d.month}/{d.day}/{year}"
        sep = loc.date_sep if rng.random() < 0.6 else "/"
        return f"{d.day:02d}{sep}{d.month:02d}{sep}{year}"
    if style == "ordinal_month":
        return f"{_ordinal(d.day)} {month}" + (f" {d.year}" if rng.random() < 0.4 else "")
    if style == "month_ordinal":
        return f"{month} {_ordinal(d.day)}" + (f", {d.year}" if rng.random() < 0.3 else "")
    if style == "weekday_long":
        return f"{_DAYS[d.weekday()]}, {d.day} {month} {d.year}" if loc.date_order == "dmy" else \
            f"{_DAYS[d.weekday()]}, {month} {d.day}, {d.year}"
    if style == "weekday_short":
        return f"{_DAYS[d.weekday()][:3]} {d.day} {mon}" if loc.date_order == "dmy" else \
            f"{_DAYS[d.weekday()][:3]}, {mon} {d.day}"
    if style == "of_month":
        return f"the {_ordinal(d.day)} of {month}"
    raise ValueError(style)


# --------------------------------------------------------------------------------------------------
# Slots
# --------------------------------------------------------------------------------------------------

def _title(doc: Doc, role: str) -> str:
    key = f"title:{role}"
    if key not in doc.values:
        p = doc.person(role)
        t = doc.rng.choice(("Dr", "Ms", "Mrs") if p["female"] else ("Dr", "Mr", "Mr"))
        if t == "Dr" and doc.rng.random() < 0.6:
            t = "Ms" if p["female"] else "Mr"
        if doc.loc.code == "en_US" or doc.rng.random() < 0.25:
            t += "."
        doc.values[key] = t
    return doc.values[key]


_PERSON_FIELDS: dict[str, Callable[[Doc, str], str]] = {
    "first": lambda d, r: d.person(r)["first"],
    "last": lambda d, r: d.person(r)["last"],
    "full": lambda d, r: f"{d.person(r)['first']} {d.person(r)['last']}",
    "title": _title,
    "title_last": lambda d, r: f"{_title(d, r)} {d.person(r)['last']}",
    "title_full": lambda d, r: f"{_title(d, r)} {d.person(r)['first']} {d.person(r)['last']}",
    "initial_last": lambda d, r: f"{d.person(r)['first'][0]}. {d.person(r)['last']}",
    "email": lambda d, r: d.email(r),
    "work_email": lambda d, r: d.email(r, work=True),
    "personal_email": lambda d, r: d.email(r, work=False),
    "phone": lambda d, r: d.phone(),
    "mobile": lambda d, r: d.phone(),
    "job": lambda d, r: d.rng.choice(_JOBS),
    "dept": lambda d, r: d.rng.choice(_DEPTS),
    "company": lambda d, r: d.company(r),
    "domain": lambda d, r: d.domain(r),
    "address": lambda d, r: d.address(),
    "city": lambda d, r: d.city(),
    "dob": lambda d, r: d.date(dt.date(1945, 1, 1) + dt.timedelta(days=d.rng.randrange(60 * 365)),
                               d.rng.choice(("long", "numeric", "iso", "us_long", "short_month"))),
    "username": lambda d, r: d.rng.choice((
        f"{_handle(d.person(r)['first'])[0]}{_handle(d.person(r)['last']).replace('-', '')}",
        f"{_handle(d.person(r)['first'])}.{_handle(d.person(r)['last']).replace('-', '')}",
        f"{_handle(d.person(r)['last']).replace('-', '')[:6]}{_handle(d.person(r)['first'])[:2]}")),
    "employee_id": lambda d, r: d.fake.bothify(d.rng.choice(("E#####", "EMP-####", "#######", "HR-#####"))),
    "national_id": lambda d, r: _national_id(d),
}


def _national_id(doc: Doc) -> str:
    f = doc.loc.id_format
    if "#" in f or "?" in f:
        return doc.fake.bothify(f).upper()
    return str(getattr(doc.fake, f)())


def _later(doc: Doc, key: str, low: int, high: int, after: str = "date_value") -> dt.date:
    if key not in doc.values:
        base = doc.values.get(after) or doc.base_date
        doc.values[key] = base + dt.timedelta(days=doc.rng.randrange(low, high))  # type: ignore[operator]
    return doc.values[key]  # type: ignore[return-value]


def _date_value(doc: Doc) -> dt.date:
    doc.values.setdefault("date_value", doc.base_date)  # type: ignore[arg-type]
    return doc.base_date


def _id(pattern_choices: tuple[str, ...]) -> Callable[[Doc], str]:
    def make(doc: Doc) -> str:
        pattern = doc.rng.choice(pattern_choices).replace("YYYY", str(doc.base_date.year))
        return doc.fake.bothify(pattern, letters="ABCDEFGHJKLMNPQRSTUVWXYZ")
    return make


SLOTS: dict[str, Callable[[Doc], str]] = {
    "date": lambda d: d.date(_date_value(d)),
    "date2": lambda d: d.date(_later(d, "date2_value", 1, 45)),
    "date3": lambda d: d.date(_later(d, "date3_value", 3, 90, "date2_value")),
    "past_date": lambda d: d.date(d.base_date - dt.timedelta(days=d.rng.randrange(2, 400))),
    "date_iso": lambda d: _date_value(d).isoformat(),
    "date_long": lambda d: d.date(_date_value(d), "long"),
    "date_us": lambda d: d.date(_date_value(d), "us_long"),
    "date_num": lambda d: d.date(_date_value(d), "numeric"),
    "weekday": lambda d: _DAYS[_date_value(d).weekday()],
    "month_year": lambda d: f"{_MONTHS[_date_value(d).month - 1]} {_date_value(d).year}",
    "year": lambda d: str(_date_value(d).year),
    "time": lambda d: d.time(),
    "time2": lambda d: d.time(),
    "amount": lambda d: d.amount(),
    "amount2": lambda d: d.amount(),
    "small_amount": lambda d: d.amount(8, 300),
    "rent": lambda d: d.amount(400, 4000),
    "monthly_salary": lambda d: d.amount(1500, 9000),
    "big_amount": lambda d: d.amount(5000, 900000),
    "salary": lambda d: d.amount(22000, 140000).split(".")[0] if d.rng.random() < 0.7 else d.amount(22000, 140000),
    "percent": lambda d: f"{d.rng.choice((2, 3, 5, 7.5, 10, 12, 15, 20, 25, 2.5, 4.2, 30))}%",
    "qty": lambda d: str(d.rng.choice((1, 2, 2, 3, 4, 5, 6, 10, 12, 20, 24, 25, 50, 100))),
    "n": lambda d: str(d.rng.randrange(2, 15)),
    "days": lambda d: str(d.rng.choice((3, 5, 7, 10, 14, 14, 21, 28, 30, 30, 45, 60, 90))),
    "currency": lambda d: d.loc.iso,
    "invoice_id": _id(("INV-YYYY-#####", "INV-######", "YYYY/####", "INV######", "F-YYYY-####", "#######",
                       "IN-YYYY-####")),
    "order_id": _id(("ORD-######", "#########", "PO-#####", "###-#######-#######", "SO-YYYY-#####", "?#######")),
    "po": _id(("PO-#####", "PO######", "4500######", "PO-YYYY-####")),
    "ticket_id": _id(("INC#######", "REQ#######", "TKT-#####", "CS-######", "######", "SR-YYYY-#####")),
    "jira": _id(("OPS-####", "WEB-###", "APP-####", "PAY-###", "CORE-####", "MOB-###", "DATA-###")),
    "case_id": _id(("CASE-######", "C-YYYY-#####", "########", "CL-######")),
    "account_id": _id(("########", "ACC-######", "##-#######", "AC########", "#### #### ####")),
    "customer_id": _id(("CUST-#####", "C#######", "######", "CN-YYYY-####")),
    "patient_id": _id(("########", "MRN-#######", "P-######", "NHS ### ### ####")),
    "policy_id": _id(("POL-########", "??#######", "YYYY-######-##")),
    "contract_id": _id(("CTR-YYYY-###", "AGR-#####", "SLA-YYYY-##", "MSA-####")),
    "tracking": _id(("1Z###?##?########", "JD014600#########", "##########", "LX#########DE",
                     "RR#########GB", "############")),
    "ref": _id(("??##-####", "REF-######", "#####-??", "????-####-##")),
    "sku": _id(("SKU-#####", "??-####-??", "####-###", "?###-##")),
    "asset_tag": _id(("LT-#####", "IT-YYYY-####", "PC-######", "ASSET-####")),
    "hostname": lambda d: _hostname(d),
    "ip": lambda d: d.fake.ipv4_private() if d.rng.random() < 0.7 else d.fake.ipv4_public(),
    "version": lambda d: f"{d.rng.randrange(1, 12)}.{d.rng.randrange(0, 20)}.{d.rng.randrange(0, 10)}",
    "card_last4": lambda d: d.fake.numerify("####"),
    "iban": lambda d: _iban(d),
    "sort_code": lambda d: d.fake.numerify("##-##-##"),
    "product": lambda d: d.rng.choice(_PRODUCTS),
    "product2": lambda d: d.rng.choice(_PRODUCTS),
    "reason": lambda d: d.rng.choice(_REASONS),
    "issue": lambda d: d.rng.choice(_ISSUES),
    "room": lambda d: d.rng.choice(("Room", "Meeting Room", "Conference Room")) + " " + d.fake.bothify(
        d.rng.choice(("#.##", "##", "?#", "#0#"))).upper(),
    "street": lambda d: " ".join(d.fake.street_address().split()),
    "postcode": lambda d: d.fake.postcode(),
    "country": lambda d: d.loc.country,
    "id_label": lambda d: d.loc.id_label,
    "plate": lambda d: d.fake.license_plate(),
    "bic": lambda d: d.fake.swift(length=8),
}


def _hostname(doc: Doc) -> str:
    pattern = doc.rng.choice(("srv-??-##", "web-##", "db-prod-##", "ws-####", "mail-##", "LAPTOP-#?#?#?",
                              "DESKTOP-?#?#?#"))
    name = doc.fake.bothify(pattern, letters="abcdefghkmnprstvwxz")
    return name.upper() if pattern[0].isupper() else name  # servers lower case, Windows machines upper


def _iban(doc: Doc) -> str:
    value = doc.fake.iban()
    if doc.rng.random() < 0.5:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


@functools.lru_cache(maxsize=None)
def _slot_fn(name: str) -> Callable[[Doc], str] | None:
    if name in SLOTS:
        return SLOTS[name]
    role, _, field = name.partition("_")
    if role in ("s", "p") and field in _PERSON_FIELDS:
        return lambda d, f=_PERSON_FIELDS[field], r=role: f(d, r)
    if name in _PERSON_FIELDS:
        return lambda d, f=_PERSON_FIELDS[name]: f(d, "")
    return None


def _value(doc: Doc, name: str) -> str:
    cached = doc.values.get(name)
    if isinstance(cached, str):
        return cached
    fn = _slot_fn(name)
    if fn is None:
        raise KeyError(name)
    value = str(fn(doc))
    doc.values[name] = value
    return value


_A_AN = re.compile(r"\b([Aa]) ([aeiouAEIOU]\w)")
_DOUBLE_STOP = re.compile(r"(?<!\.)\.\.(?!\.)")
_TWO_WEEKDAYS = re.compile(r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? (?=(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\b)")


def render(template: Template, doc: Doc) -> list[str]:
    """The sentences of ``template`` with its alternatives chosen and its slots filled."""
    out = []
    for line in template.lines:
        line = _ALT.sub(lambda m: doc.rng.choice(m.group(1).split("|")), line)
        line = _SLOT.sub(lambda m: _value(doc, m.group(1)), line)
        line = " ".join(unicodedata.normalize("NFKC", line).translate(_CHAR_MAP).split())  # Faker's dashes
        line = re.sub(r"\s+([,.;:!?])", r"\1", line)
        line = _A_AN.sub(lambda m: f"{m.group(1)}n {m.group(2)}", line)
        line = _DOUBLE_STOP.sub(".", line)  # "at 8 a.m.."
        line = _TWO_WEEKDAYS.sub("", line)  # "{weekday} {date}" with a date that names its weekday
        if line and line[0].islower():
            line = line[0].upper() + line[1:]
        if line:
            out.append(line)
    return out


def texts_of_document(n_sentences: int) -> int:
    """How many texts the corpus build forms from a document of ``n_sentences``: the sentences
    and the passages of 2 and 3 (those that fit within ``max_tokens``; all of these do)."""
    return n_sentences + n_sentences // 2 + n_sentences // 3


#: Every sentence has at least MIN_TOKENS WordPiece tokens and a whole document at most MAX_TOKENS.
MIN_TOKENS, MAX_TOKENS = 4, 64


def generate(
    templates: tuple[Template, ...],
    seed: int,
    n_texts: int,
    count_tokens: Callable[[str], int] | None = None,
) -> Iterator[list[str]]:
    """Documents (lists of sentences) from ``templates``, until about ``n_texts`` texts are made.

    Each document draws a template, a locale and its values from a generator of its own, seeded
    from ``seed``. With ``count_tokens``, a document with a sentence under MIN_TOKENS tokens or over
    MAX_TOKENS in all is drawn again (so every passage the build forms fits ``max_tokens=64``)."""
    rng = random.Random(seed)
    codes = sorted(LOCALES)
    made = 0
    while made < n_texts:
        template = templates[rng.randrange(len(templates))]
        doc_rng = random.Random(rng.getrandbits(64))
        doc = Doc(doc_rng, codes[doc_rng.randrange(len(codes))])
        sentences = render(template, doc)
        if not sentences:
            continue
        if count_tokens is not None:
            counts = [count_tokens(s) for s in sentences]
            if min(counts) < MIN_TOKENS or sum(counts) > MAX_TOKENS:
                continue
        made += texts_of_document(len(sentences))
        yield sentences


# --------------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------------

_CHAR_MAP = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                           "\u2014": " - ", "\u00a0": " ", "\u202f": " ", "\u2026": "..."})
_ALLOWED_SYMBOLS = frozenset("€£¥₹°§")
_LEFTOVER = re.compile(r"[{}\[\]\\^~`\t]|\s{2,}")


def clean_record(text: str) -> str | None:
    """The cleaner of the records sources: keep e-mail addresses, ``<>``, ``#``, ``|``, ``/``,
    currency symbols and IDs; normalise Unicode (NFKC, quotes, dashes) and whitespace; drop texts
    with an unfilled slot or alternative (``{ } [ ]``), unbalanced brackets or quotes, a non-Latin
    character other than € £ ¥ ₹ ° §, fewer than 2 words of letters or under 12 characters."""
    text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    text = " ".join(text.split())
    if not 12 <= len(text) <= 1000 or _LEFTOVER.search(text):
        return None
    for c in text:
        if ord(c) > 127 and c not in _ALLOWED_SYMBOLS:
            base = unicodedata.normalize("NFKD", c)[:1]
            if not (base.isascii() and base.isalpha()) and c not in "łŁøØßæÆœđ":
                return None
        elif ord(c) < 32:
            return None
    if not balanced(text) or text.count('"') % 2:
        return None
    if sum(1 for w in text.split() if sum(ch.isalpha() for ch in w) >= 2) < 2:
        return None
    return text
