import pytest

from core.phones import _matched, normalize, normalize_all


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


@pytest.mark.parametrize(
    ("typed", "region", "expected"),
    [
        # The example: not a US number; the valid Canadian 310-8759 at its tail is
        # not what was typed.
        ("(453) 310-8759", "US", []),
        ("453/310-8759", "US", []),
        ("310-8759", "US", []),  # Canada's 310-xxxx service numbers, a number cut short here
        ("(212) 555-1234", "US", ["+12125551234"]),
        ("212.555.1234 x12", "US", ["+12125551234"]),
        ("+1 212-555-1234 ext. 5", "US", ["+12125551234"]),
        ("(604) 253-1234", "US", ["+16042531234"]),  # Canada shares +1
        ("1 212 555 1234 or 212-253-1234", "US", ["+12125551234", "+12122531234"]),
        ("+44 20 7946 0958", "US", ["+442079460958"]),
        ("011 44 20 7946 0958", "US", ["+442079460958"]),
        ("+44 20 7946 0958", "RU", ["+442079460958"]),
        ("0044 20 7946 0958", "DE", ["+442079460958"]),
        ("030 901820, 0171 1234567", "DE", ["+4930901820", "+491711234567"]),
        ("+49 30 901820", "DE", ["+4930901820"]),
        ("0171 1234567", "RU", []),  # a German mobile typed nationally, read in Russia
        ("8 701 123 45 67", "RU", ["+77011234567"]),  # a Kazakh mobile: +7 is shared
        ("8 912 345 67 89 12345", "RU", []),  # one run of digits, valid only in part
        ("8 (912) 345-67-890", "RU", []),
        ("89123456789 89031234567", "RU", ["+79123456789", "+79031234567"]),
        ("8 912 345 67 89 (мама)", "RU", ["+79123456789"]),
        ("8 912 345 67 89 (с 12.03.2020)", "RU", ["+79123456789"]),
        ("12345", "US", []),
        ("call me", "US", []),
        ("+999 123 456", "RU", []),
        ("++--()", "DE", []),
    ],
)
def test_only_whole_typed_numbers_are_kept(typed: str, region: str, expected: list[str]) -> None:
    assert normalize_all(typed, region) == expected


def test_telegram_contact_digits() -> None:
    assert normalize("79123456789") == "+79123456789"
    assert normalize("+79123456789") == "+79123456789"
    assert normalize("89123456789") == "+79123456789"
    assert normalize("not a phone") is None


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
        "({a}) {b}-{c}-{d}",
        "8 {a} {b}-{c}-{d} 1",
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
    fast = [normalize_all(t) for t in typed]
    assert fast == [_matched(t, "RU") for t in typed]
    # The sample holds valid and unallocated numbers, and numbers with a digit too many.
    assert 0 < sum(1 for numbers in fast if numbers) < len(typed)
