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
