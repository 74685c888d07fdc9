"""The notes the ledger keeps on its entries, and a referral's reason, in one place.

The ledger keeps each entry's note in English, as it always has: it is the programme's own
trace (the logs, `kabinet` and a support engineer read it), and years of entries already
hold it. Every note the code writes is one of NOTES, made with `note()`; the panel shows it
in Russian (app/ledger_basis.py, a test holds the two tables to the same names). A note a
person typed (a manual grant's reason) is kept and shown as typed.
"""

from __future__ import annotations

# name -> the English kept in the ledger; fields in braces.
NOTES: dict[str, str] = {
    "spend": "{value} ₽ of a {bill} ₽ bill",
    "screenshot": "{kind} on {platform}, approved by {user}",
    "cashback": "{why} of {amount} ₽",
    "birthday": "birthday bonus",
    "welcome": "welcome bonus",
    "family": "joined family {family}",
    "staff_connect": "connected patient {patient}",
    "referral": "referral {referral} ({side})",
    "refunded": "payment {payment} refunded",
    "recovery": "{points} points withheld against earlier refunds",
    "debt_moved": "debt of {points} points moved",
    # A referral's reason (core.loyalty.referrals), shown beside its state.
    "own_link": "the referrer's own link",
    "paying": "already a paying patient",
    "connected": "already connected to the bot",
}


def note(name: str, **values: object) -> str:
    """The English note `name` with its fields, as the ledger keeps it."""
    return NOTES[name].format(**values)
