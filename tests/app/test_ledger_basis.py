"""Every note the ledger keeps, and every referral reason, reads in Russian in the panel
(app/ledger_basis.py): written only through core.loyalty.basis.note(), each with its
Russian, numbers and money in Russian format; a person's own words stay as typed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from app.ledger_basis import RUSSIAN, basis, in_russian
from core.loyalty.basis import NOTES, note

ROOT = Path(__file__).resolve().parents[2]
_LATIN = re.compile(r"[A-Za-z]{2,}")
SAMPLES = {
    "value": "300",
    "bill": "1\u00a0000",
    "amount": "3450.00",
    "why": "5% (service имплант) + 2.5% (золото)",
    "kind": "review",
    "platform": "prodoctorov",
    "user": "Ольга",
    "family": "Ивановы",
    "patient": "П-17",
    "referral": "12",
    "side": "referred",
    "payment": "О-5",
    "points": "1200",
}


def test_every_note_has_its_russian_and_reads_without_english() -> None:
    assert set(RUSSIAN) == set(NOTES)
    for name in NOTES:
        fields = re.findall(r"\{(\w+)\}", NOTES[name])
        shown = in_russian(note(name, **{f: SAMPLES[f] for f in fields}))
        assert not _LATIN.search(shown), (name, shown)
        assert set(re.findall(r"\{(\w+)\}", RUSSIAN[name])) == set(fields), name


def test_numbers_money_and_percentages_are_in_russian_format() -> None:
    assert in_russian(note("spend", value="300", bill="1\u00a0000")) == (
        "300\u00a0₽ из счёта 1\u202f000\u00a0₽"
    )
    assert in_russian(note("cashback", why="5% (doctor d1) + 2.5% (gold)", amount="3450.00")) == (
        "5\u00a0% (врач d1) + 2,5\u00a0% (gold) от 3\u202f450\u00a0₽"
    )
    assert in_russian(note("recovery", points=1200)) == (
        "1\u202f200 бонусов удержано в счёт прежних возвратов"
    )
    assert in_russian("компенсация за ожидание") == "компенсация за ожидание"  # typed by staff
    assert basis(None, "payment:P-9") == "оплата P-9 в МИС"
    assert basis("", "spend:0123abcd") == "—"


def _writes_a_note(node: ast.AST) -> list[ast.expr]:
    """The values given as a ledger note (note=...) or a referral's reason."""
    found: list[ast.expr] = []
    if isinstance(node, ast.Call):
        found += [k.value for k in node.keywords if k.arg == "note"]
    if isinstance(node, ast.Assign):
        for target, value in _pairs(node):
            if isinstance(target, ast.Attribute) and target.attr == "reason":
                found.append(value)
    return found


def _pairs(node: ast.Assign) -> list[tuple[ast.expr, ast.expr]]:
    target = node.targets[0]
    if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
        return list(zip(target.elts, node.value.elts, strict=False))
    return [(target, node.value)]


def test_the_code_writes_notes_only_through_the_table() -> None:
    """A new English note written as a plain string would show untranslated: refused here."""
    offenders = []
    for path in [ROOT / "core" / "ledger.py", *ROOT.glob("core/loyalty/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for value in _writes_a_note(node):
                for part in ast.walk(value):
                    literal = isinstance(part, ast.JoinedStr) or (
                        isinstance(part, ast.Constant)
                        and isinstance(part.value, str)
                        and part.value
                    )
                    if literal and not _inside_basis_call(value, part):
                        offenders.append(f"{path.relative_to(ROOT)}:{part.lineno}")
    assert offenders == []


def _inside_basis_call(root: ast.expr, part: ast.AST) -> bool:
    for call in ast.walk(root):
        if (
            isinstance(call, ast.Call)
            and getattr(call.func, "id", "") == "basis_note"
            and any(part is sub for sub in ast.walk(call))
        ):
            return True
    return False
