import pytest

from core.phones import normalize, normalize_all


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("8 (912) 345-67-89", ["+79123456789"]),
        ("+7 912 3456789", ["+79123456789"]),
        ("9123456789", ["+79123456789"]),
        ("8-912-345-67-89 доб. 12", ["+79123456789"]),
        ("8 912 345 67 89, 8 495 123-45-67", ["+79123456789", "+74951234567"]),
        ("+375 29 123-45-67", ["+375291234567"]),
        ("+7 701 123 4567", ["+77011234567"]),
        ("нет", []),
        ("—", []),
        ("", []),
        (None, []),
    ],
)
def test_normalize_all(typed: str | None, expected: list[str]) -> None:
    assert normalize_all(typed) == expected


def test_telegram_contact_digits() -> None:
    assert normalize("79123456789") == "+79123456789"
    assert normalize("+79123456789") == "+79123456789"
    assert normalize("89123456789") == "+79123456789"
    assert normalize("not a phone") is None


def _matcher(text: str) -> list[str]:
    import phonenumbers

    found: list[str] = []
    for match in phonenumbers.PhoneNumberMatcher(text, "RU", leniency=phonenumbers.Leniency.VALID):
        e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in found:
            found.append(e164)
    return found


def test_the_fast_russian_mobile_reading_agrees_with_the_matcher() -> None:
    import random

    rnd = random.Random(3)
    formats = [
        "+7 ({a}) {b}-{c}-{d}",
        "8 ({a}) {b}-{c}-{d}",
        "8-{a}-{b}-{c}-{d}",
        "{a}{b}{c}{d}",
        "+7{a}{b}{c}{d}",
        "8{a}{b}{c}{d}",
        "+7 {a} {b}{c}{d}",
        " 8 {a} {b} {c} {d} ",
        "8({a}){b}{c}{d}",
        "7{a}{b}{c}{d}",
        "8 {a} {b}-{c}-{d}0",
    ]
    typed = ["+7 930 082 24 71", "8 (930) 123-45-67", "8 (999) 000-00-00"]
    for _ in range(3000):
        typed.append(
            rnd.choice(formats).format(
                a=rnd.randint(900, 999),
                b=f"{rnd.randint(0, 999):03d}",
                c=f"{rnd.randint(0, 99):02d}",
                d=f"{rnd.randint(0, 99):02d}",
            )
        )
    assert [normalize_all(t) for t in typed] == [_matcher(t) for t in typed]
