"""Every patient and staff text is in Russian and in English, and both fill the same fields:
an English chat must never get a KeyError, or a Russian sentence, for want of a line."""

from __future__ import annotations

import string

import pytest

from core.texts import CATALOGUE


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_each_text_is_in_both_languages_with_the_same_fields(key: str) -> None:
    entry = CATALOGUE[key]
    assert set(entry) >= {"ru", "en"}, f"{key}: languages {sorted(entry)}"
    assert entry["ru"].strip() and entry["en"].strip(), f"{key}: an empty text"
    assert _fields(entry["ru"]) == _fields(entry["en"]), key
