"""Phone numbers as clinics type them, normalised to E.164 for matching."""

from __future__ import annotations

import re

import phonenumbers

# One Russian mobile number as clinics usually type it: "8 (912) 345-67-89", "+7 912
# 3456789", "9123456789", "8-912-345-67-89". An initial import normalises tens of thousands
# of these; the matcher takes ~50 µs for each, this a few. Anything else (an extension,
# two numbers, another country, words) goes to the matcher.
_RU_MOBILE = re.compile(r"\s*(?:\+7|8)?[ \-(]*(9\d\d)[ \-)]*(\d{3})[ \-]*(\d\d)[ \-]*(\d\d)\s*")


def normalize_all(text: str | None, region: str = "RU") -> list[str]:
    """Every valid number found in a free-text field, in order, without duplicates.

    MIS phone fields hold "8 (912) 345-67-89", "9123456789", "... доб. 12", two numbers
    separated by a comma, or "нет"; the matcher finds each real number and drops the rest.
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
    found: list[str] = []
    for match in phonenumbers.PhoneNumberMatcher(
        text, region, leniency=phonenumbers.Leniency.VALID
    ):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in found:
            found.append(e164)
    return found


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
