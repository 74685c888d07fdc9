"""Phone numbers as clinics type them, normalised to E.164 for matching.

A number is kept only if the whole of what was typed is one: "(453) 310-8759" is not a US
number, and the valid Canadian "310-8759" at its tail is not what anybody typed.
"""

from __future__ import annotations

import re

import phonenumbers
from phonenumbers import PhoneNumberType

# One Russian mobile number as clinics usually type it: "8 (912) 345-67-89", "+7 912
# 3456789", "9123456789", "8-912-345-67-89". An initial import normalises tens of thousands
# of these; the matcher takes ~50 µs for each, this a few. Anything else (an extension,
# two numbers, another country, words) goes to the matcher.
_RU_MOBILE = re.compile(r"\s*(?:\+7|8)?[ \-(]*(9\d\d)[ \-)]*(\d{3})[ \-]*(\d\d)[ \-]*(\d\d)\s*")

# A typed number: digits and what people put between them. Letters, commas and semicolons
# end one ("... доб. 12", "8 912 ..., 8 495 ..."); a slash does not, so "453/310-8759" is
# one typed number, not a prefix and a valid tail.
_TYPED = re.compile(r"[\d\s+()\[\]./~\-‐-―−]+")
_PERSONAL = (
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
)


def normalize_all(text: str | None, region: str = "RU") -> list[str]:
    """Every valid number typed in a free-text field, in order, without duplicates.

    MIS phone fields hold "8 (912) 345-67-89", "9123456789", "... доб. 12", two numbers
    separated by a comma, or "нет". A number is kept when the whole typed number is valid
    for `region` (national) or valid at all (with "+" or an international prefix); a valid
    number found inside a longer run of digits is not what was typed, and is dropped.
    """
    if not text:
        return []
    if region == "RU":
        mobile = _RU_MOBILE.fullmatch(text)
        if mobile:
            # What the matcher finds in such a field: the number, if it is a valid one
            # (not every +7 9xx range is allocated).
            national = "".join(mobile.groups())
            number = phonenumbers.PhoneNumber(country_code=7, national_number=int(national))
            return ["+7" + national] if phonenumbers.is_valid_number(number) else []
    return _matched(text, region)


def _matched(text: str, region: str) -> list[str]:
    """normalize_all without the fast path: phonenumbers' matcher, held to whole numbers."""
    matches = list(
        phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    )
    if not matches:
        return []
    covered = bytearray(len(text))
    for match in matches:
        covered[match.start : match.end] = b"\x01" * (match.end - match.start)
    # When a typed number is not valid as a whole, the matcher tries its parts: a typed
    # number with digits outside every match was read only in part, and gives nothing.
    partial = [
        typed.span()
        for typed in _TYPED.finditer(text)
        if any(not covered[i] and text[i].isdigit() for i in range(*typed.span()))
    ]
    found: list[str] = []
    for match in matches:
        if any(match.start < end and start < match.end for start, end in partial):
            continue
        if not _of_region(match.number, region):
            continue
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in found:
            found.append(e164)
    return found


def _of_region(number: phonenumbers.PhoneNumber, region: str) -> bool:
    """Whether a valid number is one of `region` or was typed as an international one."""
    code = number.country_code
    if code != phonenumbers.country_code_for_region(region):
        # A number typed nationally gets the region's code: another code was typed with
        # "+" or an international prefix ("+44 20 …", "00 49 …", "810 44 …").
        return True
    if len(phonenumbers.region_codes_for_country_code(code)) == 1:
        return True
    if phonenumbers.is_valid_number_for_region(number, region):
        return True
    # +1 and +7 are shared plans: "(604) …" is a Canadian number dialled from the US, "8
    # 701 …" a Kazakh mobile dialled in Russia. Only a person's line, though: not a
    # service number such as Canada's seven-digit 310-xxxx, which in a US field is a
    # number cut short.
    return phonenumbers.number_type(number) in _PERSONAL


def normalize(text: str | None, region: str = "RU") -> str | None:
    """The single number in ``text`` (a Telegram contact, say), or None if there is none."""
    if not text:
        return None
    candidate = text.strip()
    # Telegram sends contacts as bare international digits ("79123456789"), while people
    # type national ones ("89123456789"): try the international reading first.
    attempts = [candidate]
    if candidate.isdigit() and len(candidate) > 10:
        attempts.insert(0, "+" + candidate)
    for attempt in attempts:
        numbers = normalize_all(attempt, region)
        if numbers:
            return numbers[0]
    return None
