"""Take personal data out of free text before it is stored.

Citizens type their phone number, citizen ID or e-mail into comments despite
the hint. ``redact`` replaces each one with a marker in the response's
language, e.g. "Gọi [số điện thoại]" for "Gọi 0912 345 678", and counts
them; the original is never stored or logged.

What is removed:

- e-mail addresses;
- dossier codes of the portals (``000.00.31.H29-230915-0007``): they lead to
  the citizen's application;
- phone numbers: ``+`` and a country code with 8 to 15 digits in all
  (``+84 912-345-678``, ``(+84) 28 3829 1234``, ``+62 812 3456 7890``); an
  area code in parentheses (``(028) 3829 1234``, ``(021) 5550 1234``); a
  national number starting with 0 of 10 or 11 digits (Vietnamese mobiles and
  landlines, Indonesian ``08…``), of 13 digits starting with 08 (Indonesian
  mobiles), of 12 digits starting with 08 in an Indonesian response; 84 or
  62 and the number without the 0 (``84912345678``);
- identity numbers: 12 digits starting with 0 (CCCD: its first three digits
  are the province, 001 to 096), any 9 digits (CMND), any 16 digits
  (Indonesian NIK; a bank card number too).

Digits may be grouped by spaces, dots or dashes, one kind per number
(``0912 345 678``, ``001.203.012.345``, ``3174-0512-3456-0001``).

What is kept: dates (``12/03/2026``, ``2026-03-12``, ``12.03.2026``), times,
percentages, years and lists of years, house numbers, short numbers; amounts:
a number next to a currency (``đ``, ``đồng``, ``VND``, ``Rp``, ``$``…) or
written in thousands with dots (``150.000.000``) unless an ID or phone word
(``CMND``, ``SĐT``, ``NIK``…) comes just before it; procedure codes of the
national portal (``1.001234.000.00.00.H12``), which name a service, not a
person. Numbers of 10 or 11 digits not starting with 0 (a tax code), and
longer than 16 digits, are kept: no kind above has that shape.

Known gaps: numbers spelt out in words, obfuscated addresses
("an [at] gmail [dot] com"), digits separated by " - " or by two kinds of
separator, names. A marker may make a text longer than the question's
``max_length``; the limit applies to what the citizen typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from survey_app.lib.settings import DEFAULT_LOCALE


class Kind(StrEnum):
    """What was removed; each kind has its own marker."""

    id_number = "id_number"
    phone = "phone"
    email = "email"
    dossier = "dossier"


# The markers written into stored text, in the response's language. They are data
# (stored, exported, read by analysts in that language), not interface text, so they
# live here rather than in the gettext catalogs; a test checks every supported locale.
# They hold no digit and no "@", so redacting a text twice changes nothing more.
MARKERS: dict[str, dict[Kind, str]] = {
    "vi": {
        Kind.id_number: "[số định danh]",
        Kind.phone: "[số điện thoại]",
        Kind.email: "[email]",
        Kind.dossier: "[mã hồ sơ]",
    },
    "en": {
        Kind.id_number: "[ID number]",
        Kind.phone: "[phone number]",
        Kind.email: "[email]",
        Kind.dossier: "[dossier code]",
    },
    "id": {
        Kind.id_number: "[nomor identitas]",
        Kind.phone: "[nomor telepon]",
        Kind.email: "[email]",
        Kind.dossier: "[nomor berkas]",
    },
}


@dataclass(frozen=True)
class Redaction:
    """A text with its personal data replaced, and how many items were replaced."""

    text: str
    removed: int


# One scan, left to right; at each position the alternatives are tried in this order.
_PATTERN = re.compile(
    r"""
    # An e-mail address: first, so that digits in it (0912345678@gmail.com) go with it.
    (?P<email>
        (?<![\w.%+\-])[\w.%+\-]+        # local part; \w takes Vietnamese letters too
        @(?:[\w\-]+\.)+[^\W\d_]{2,}      # domain labels and a top-level domain of letters
        (?![\w\-])
    )
    # A portal's dossier code: agency code ending in a letter and two digits (H29 for a
    # province, G01 for a ministry), then the date received (yymmdd) and a sequence number.
    | (?P<dossier>
        (?<![\w.\-])
        (?:[0-9a-z]{1,4}\.){0,4}[a-z]\d{2}(?:\.\d{1,3})*   # 000.00.31.H29, H29.16
        -\d{6}-\d{4,6}                                      # -230915-0007
        (?![\w\-])
    )
    # A procedure code of the national portal names a service, not a person: kept whole,
    # so that its digits are not read as an identity number below.
    | (?P<procedure>
        (?<![\w.])\d\.\d{6}\.\d{3}\.\d{2}\.\d{2}\.[a-z]\d{2}(?![\w.])
    )
    # A run of digit groups, looked at group by group in _numbers. Letters may touch it
    # ("SĐT0912345678"); another digit may not, so a run is always taken whole.
    | (?P<run>
        (?<!\d)
        (?:(?:\(\+?\d{1,4}\)|\+\d{1,3})[ .\-\u00a0]?)?     # +84, (+84), (028)
        \d+(?:[ .\-\u00a0]\d+)*                              # groups; separators checked later
    )
    """,
    re.VERBOSE | re.IGNORECASE,
)

# Every kind above has a digit or an "@": a text without either is kept as it is, fast.
_HINT = re.compile(r"[\d@]")

# The groups of a run, each with the separator before it ("" for the first).
_GROUP = re.compile(r"([ .\-\u00a0]?)(\d+)")
_PREFIX = re.compile(r"\(\+?\d{1,4}\)|\+\d{1,3}")

# A currency next to a number makes it an amount (1.500.000 đ, 150000000 đồng, Rp 150.000.000).
_CURRENCY_AFTER = re.compile(r"\s?(?:đ|đồng|dong|vnđ|vnd|d|rp|rupiah|usd|\$)(?!\w)", re.IGNORECASE)
_CURRENCY_BEFORE = re.compile(r"(?<!\w)(?:rp|vnđ|vnd|usd|\$)\.?\s?$", re.IGNORECASE)

# Words that announce an identity or phone number: just before a number written like an
# amount (CMND: 145.678.901), they win over the amount reading.
_ANNOUNCED = re.compile(
    r"(?<!\w)(?:cmnd|cccd|cmt|căn cước|chứng minh|định danh|sđt|sdt|đt|điện thoại|"
    r"dien thoai|phone|tel|telp|telepon|hp|wa|zalo|ktp|nik|id|identitas)(?!\w)",
    re.IGNORECASE,
)
_ANNOUNCE_WINDOW = 20  # characters before the number

# Longest run of groups looked at as one number: bounds the work on a hostile text.
_MAX_GROUPS = 8
_MAX_DIGITS = 16
_MIN_DIGITS = 9  # without a country or area code


@dataclass(frozen=True)
class _Group:
    start: int  # in the text
    end: int
    digits: str
    separator: str  # before this group; "" for the first


def redact(text: str, locale: str) -> Redaction:
    """``text`` with every e-mail, phone, identity number and dossier code replaced."""
    if not _HINT.search(text):
        return Redaction(text, 0)  # most comments: no digit, no "@", nothing to look at
    markers = MARKERS.get(locale) or MARKERS[DEFAULT_LOCALE]
    pieces: list[str] = []
    removed = 0
    done = 0
    for match in _PATTERN.finditer(text):
        kind = match.lastgroup
        if kind == "procedure":
            continue
        if kind in ("email", "dossier"):
            spans = [(match.start(), match.end(), Kind(kind))]
        else:
            spans = _numbers(text, match, locale)
        for start, end, found in spans:
            pieces.append(text[done:start])
            pieces.append(markers[found])
            done = end
            removed += 1
    if not removed:
        return Redaction(text, 0)
    pieces.append(text[done:])
    return Redaction("".join(pieces), removed)


def _numbers(text: str, match: re.Match[str], locale: str) -> list[tuple[int, int, Kind]]:
    """The personal numbers in a run of digit groups, as (start, end, kind).

    The whole run is tried first, then shorter stretches of groups from the left, so a
    date or a year next to a phone number stays ("12.03.2026 0912 345 678").
    """
    run = match.group()
    prefix = _PREFIX.match(run)
    if not prefix and sum(c.isdigit() for c in run) < _MIN_DIGITS:
        return []  # dates, amounts, house numbers: most runs end here
    body_at = prefix.end() if prefix else 0
    groups = [
        _Group(match.start() + g.start(2), match.start() + g.end(), g.group(2), g.group(1))
        for g in _GROUP.finditer(run, body_at)
    ]
    # Digits before each group, so that a stretch too short or too long is skipped unread.
    before = [0]
    for group in groups:
        before.append(before[-1] + len(group.digits))
    found: list[tuple[int, int, Kind]] = []
    i = 0
    while i < len(groups):
        # The prefix belongs to the first group: a stretch starting there carries it.
        head = prefix.group() if prefix and i == 0 else ""
        for j in range(min(len(groups), i + _MAX_GROUPS), i, -1):
            count = before[j] - before[i]
            if count > _MAX_DIGITS or (count < _MIN_DIGITS and not head):
                continue
            part = groups[i:j]
            if not _stands_alone(groups, i, j):
                continue
            start = match.start() if head else part[0].start
            kind = _classify(text, start, part, head, locale)
            if kind is not None:
                found.append((start, part[-1].end, kind))
                i = j
                break
        else:
            i += 1
    return found


def _stands_alone(groups: list[_Group], i: int, j: int) -> bool:
    """Whether groups ``i`` to ``j - 1`` can be a number of their own within the run.

    A space between two numbers separates them; a dot or a dash binds a group to its
    neighbour (12.03.2026) unless the stretch is grouped otherwise (0912.345.678-0987.654.321)
    or is one long group (0912345678-0987654321).
    """
    inner = {g.separator for g in groups[i + 1 : j]}
    edges = [groups[i].separator] if i > 0 else []
    edges += [groups[j].separator] if j < len(groups) else []
    for edge in edges:
        if edge in (" ", "\u00a0"):
            continue
        if inner and edge not in inner and not inner & {" ", "\u00a0"}:
            continue
        if not inner and len(groups[i].digits) >= 9:
            continue
        return False
    return True


def _classify(text: str, start: int, part: list[_Group], head: str, locale: str) -> Kind | None:
    """What a stretch of digit groups is, or ``None`` when it is not personal data."""
    separators = {g.separator for g in part[1:]}
    # One kind of separator per number: a date and a phone side by side are two numbers.
    if len(separators) > 1:
        return None
    # Phone and ID groups have two digits or more; "1 2 3 4 5 6 7 8 9" is a list.
    if any(len(g.digits) < 2 for g in part[1:]) or (len(part[0].digits) < 2 and not head):
        return None
    digits = "".join(g.digits for g in part)
    if head.startswith(("+", "(+")):
        # International: the country code counts towards the 8 to 15 digits of E.164.
        total = len(re.sub(r"\D", "", head)) + len(digits)
        return Kind.phone if 8 <= total <= 15 else None
    if head:  # an area code in parentheses: (028) 3829 1234
        return Kind.phone if 9 <= len(head) - 2 + len(digits) <= 13 else None
    if len(digits) > _MAX_DIGITS or _is_amount(text, start, part, digits):
        return None
    if len(part) > 1 and all(len(g.digits) == 4 and g.digits[:2] in ("19", "20") for g in part):
        return None  # years: "2019 2020 2021"
    return _national(digits, locale)


def _national(digits: str, locale: str) -> Kind | None:
    """A number written without a country code, by its length and first digits."""
    n = len(digits)
    if digits.startswith("0") and n in (10, 11):
        return Kind.phone  # 0912345678, 02838291234, 081234567890 is 12: below
    if digits.startswith("08") and (n == 13 or (n == 12 and locale == "id")):
        return Kind.phone  # Indonesian mobiles: 08 and 8 to 11 digits
    if (digits.startswith("84") and n == 11) or (digits.startswith("628") and 11 <= n <= 14):
        return Kind.phone  # the country code without "+"
    if (n == 12 and digits.startswith("0")) or n in (9, 16):
        return Kind.id_number  # CCCD, CMND, NIK
    return None


def _is_amount(text: str, start: int, part: list[_Group], digits: str) -> bool:
    """Money, not a number of a person: next to a currency, or in thousands with dots."""
    if digits.startswith("0"):
        return False  # no amount is written with a leading zero; phones and CCCDs are
    if _CURRENCY_AFTER.match(text, part[-1].end) or _CURRENCY_BEFORE.search(
        text, max(0, start - 8), start
    ):
        return True
    thousands = (
        len(part) > 1
        and {g.separator for g in part[1:]} == {"."}
        and len(part[0].digits) <= 3
        and all(len(g.digits) == 3 for g in part[1:])
    )
    announced = _ANNOUNCED.search(text, max(0, start - _ANNOUNCE_WINDOW), start)
    return thousands and announced is None
