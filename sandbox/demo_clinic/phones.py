"""Phone numbers as clinic administrators actually type them into an MIS.

A connector must normalise all of these; the demo data exists largely to prove it does.
Every style below appears in a generated database (the generator walks through the
whole list before drawing at random), so tests can rely on each being present.
"""

from __future__ import annotations

import random

# Russian mobile codes; Moscow operators' codes repeated to weight them up.
MOBILE_CODES: tuple[int, ...] = (
    *(903, 905, 909, 915, 916, 925, 926, 977, 985, 999) * 3,
    900, 901, 902, 904, 906, 908, 910, 911, 912, 913, 914, 917, 918, 919, 920, 921, 922,
    923, 924, 927, 928, 929, 930, 931, 933, 936, 937, 950, 951, 952, 953, 958, 960, 961,
    962, 963, 964, 965, 966, 967, 968, 969, 978, 980, 981, 982, 983, 984, 986, 987, 988,
    989, 991, 992, 993, 994, 995, 996,
)  # fmt: skip
MOSCOW_LANDLINE_CODES: tuple[int, ...] = (495, 499)

# Templates for a 10-digit Russian national number; "X" takes the next digit.
MOBILE_STYLES: dict[str, str] = {
    "8 (XXX) XXX-XX-XX": "8 (XXX) XXX-XX-XX",
    "+7 XXX XXXXXXX": "+7 XXX XXXXXXX",
    "XXXXXXXXXX": "XXXXXXXXXX",
    "+7(XXX)XXX XX XX": "+7(XXX)XXX XX XX",
    "8XXXXXXXXXX": "8XXXXXXXXXX",
    "+7XXXXXXXXXX": "+7XXXXXXXXXX",
    "8 XXX XXX XX XX": "8 XXX XXX XX XX",
    "+7 (XXX) XXX-XX-XX": "+7 (XXX) XXX-XX-XX",
    "+7 XXX XXX-XX-XX": "+7 XXX XXX-XX-XX",
    "8-XXX-XXX-XX-XX": "8-XXX-XXX-XX-XX",
    "8(XXX)XXX-XX-XX": "8(XXX)XXX-XX-XX",
    "7 XXX XXX XX XX": "7 XXX XXX XX XX",
}
# Relative weights of the mobile styles, matching what clinics' data looks like.
MOBILE_STYLE_WEIGHTS: dict[str, int] = {
    "8 (XXX) XXX-XX-XX": 20,
    "+7 XXX XXXXXXX": 8,
    "XXXXXXXXXX": 8,
    "+7(XXX)XXX XX XX": 5,
    "8XXXXXXXXXX": 16,
    "+7XXXXXXXXXX": 10,
    "8 XXX XXX XX XX": 8,
    "+7 (XXX) XXX-XX-XX": 10,
    "+7 XXX XXX-XX-XX": 6,
    "8-XXX-XXX-XX-XX": 5,
    "8(XXX)XXX-XX-XX": 3,
    "7 XXX XXX XX XX": 1,
}

# Kinds of the whole field, in the order the generator guarantees their presence.
KINDS: tuple[str, ...] = (
    *MOBILE_STYLES,
    "extension",
    "two_numbers",
    "landline",
    "landline_local",
    "foreign_by",
    "foreign_kz",
    "foreign_other",
    "garbage_no",
    "garbage_dash",
    "garbage",
    "empty",
)
KIND_WEIGHTS: dict[str, float] = {
    **{k: float(w) for k, w in MOBILE_STYLE_WEIGHTS.items()},
    "extension": 1.0,
    "two_numbers": 3.0,
    "landline": 2.5,
    "landline_local": 0.5,
    "foreign_by": 0.8,
    "foreign_kz": 0.8,
    "foreign_other": 0.6,
    "garbage_no": 0.6,
    "garbage_dash": 0.6,
    "garbage": 0.8,
    "empty": 2.0,
}
GARBAGE: tuple[str, ...] = ("нет", "—", "-", "не дал", "0", "89", "8 912 345 67", "нет тел.")


def fill(template: str, digits: str) -> str:
    """Put `digits` into the "X" positions of `template`, in order."""
    it = iter(digits)
    return "".join(next(it) if ch == "X" else ch for ch in template)


def random_mobile(rng: random.Random) -> str:
    """A random Russian mobile as 10 national digits (9XXXXXXXXX)."""
    return f"{rng.choice(MOBILE_CODES)}{rng.randrange(10_000_000):07d}"


def random_landline(rng: random.Random) -> str:
    """A random Moscow landline as 10 national digits."""
    return f"{rng.choice(MOSCOW_LANDLINE_CODES)}{rng.randrange(1_000_000, 10_000_000):07d}"


def format_mobile(rng: random.Random, national: str, style: str | None = None) -> str:
    if style is None:
        style = rng.choices(list(MOBILE_STYLE_WEIGHTS), list(MOBILE_STYLE_WEIGHTS.values()))[0]
    return fill(MOBILE_STYLES[style], national)


def format_landline(rng: random.Random, national: str) -> str:
    template = rng.choice(("8 (XXX) XXX-XX-XX", "8 XXX XXX-XX-XX", "+7 XXX XXX XX XX"))
    return fill(template, national)


def random_kind(rng: random.Random) -> str:
    return rng.choices(list(KIND_WEIGHTS), list(KIND_WEIGHTS.values()))[0]


def typed_phone(rng: random.Random, kind: str, national: str | None = None) -> str | None:
    """A phone field of the given kind as an administrator would have typed it.

    `national` is the 10-digit Russian number to use for mobile kinds (so relatives can
    share one number typed differently); other kinds draw their own digits.
    """
    if kind in MOBILE_STYLES:
        return fill(MOBILE_STYLES[kind], national or random_mobile(rng))
    if kind == "extension":
        # Work mobiles with an extension are rare, but the suffix breaks naive parsers.
        return fill("8-XXX-XXX-XX-XX", national or random_mobile(rng)) + (
            f" доб. {rng.randrange(10, 1000)}"
        )
    if kind == "two_numbers":
        first = fill("8 XXX XXX XX XX", national or random_mobile(rng))
        second = fill("8 XXX XXX-XX-XX", random_landline(rng))
        return first + rng.choice((", ", ", ", "; ", " или ")) + second
    if kind == "landline":
        return format_landline(rng, random_landline(rng))
    if kind == "landline_local":
        # A city number without the area code: unusable without knowing the city.
        return fill("XXX-XX-XX", f"{rng.randrange(1_000_000, 10_000_000):07d}")
    if kind == "foreign_by":
        code = rng.choice(("29", "33", "44", "25"))
        return fill(f"+375 {code} XXX-XX-XX", f"{rng.randrange(10_000_000):07d}")
    if kind == "foreign_kz":
        code = rng.choice(("701", "705", "707", "747", "777"))
        return fill(f"+7 {code} XXX XX XX", f"{rng.randrange(10_000_000):07d}")
    if kind == "foreign_other":
        template = rng.choice(
            ("+998 9X XXX-XX-XX", "+374 9X XXXXXX", "+996 5XX XXX XXX", "+49 15X XXXXXXXX")
        )
        return fill(template, f"{rng.randrange(10**9):09d}")
    if kind == "garbage_no":
        return "нет"
    if kind == "garbage_dash":
        return "—"
    if kind == "garbage":
        return rng.choice(GARBAGE)
    if kind == "empty":
        return rng.choice((None, "", " "))
    raise ValueError(f"unknown phone kind {kind!r}")


def national_digits(typed: str) -> str | None:
    """The 10-digit Russian number inside a simple typed mobile, or None.

    Only for the demo's own bookkeeping (grouping family phones); a connector needs a
    real parser such as `phonenumbers`.
    """
    digits = "".join(ch for ch in typed.split(",")[0].split("доб")[0] if ch.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    return digits if len(digits) == 10 else None
