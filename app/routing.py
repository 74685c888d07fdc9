"""The panel's URL converters: ids bounded to what the store holds.

Kept apart from the app factory so a view can use `in_store_range` without importing the
package that imports it (tests/infra/test_imports.py refuses that cycle).
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter, Map

# The store's integers are 64-bit signed (SQLite's INTEGER, PostgreSQL's BIGINT): the
# driver raises OverflowError for a Python int outside this range instead of finding no row.
STORE_INT_MIN = -(2**63)
STORE_INT_MAX = 2**63 - 1


def _decimal_at_most(limit: int) -> str:
    """A regex for the decimal numbers from 0 to `limit` (leading zeros as werkzeug's \\d+
    allows them, up to the limit's length): shorter ones, then the limit's length digit by
    digit, each branch below the limit's digit at one place and equal before it."""
    digits = str(limit)
    width = len(digits)
    branches = [rf"\d{{1,{width - 1}}}"]
    for i, d in enumerate(digits):
        if d != "0":
            rest = width - i - 1
            branches.append(digits[:i] + f"[0-{int(d) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    branches.append(digits)
    return "(?:" + "|".join(branches) + ")"


class StoreIntConverter(IntegerConverter):
    """The panel's ``<int:...>``: werkzeug's, bounded to what the store can hold. An id
    past 2**63 - 1 in a path (/tasks/100000000000000000000) then matches no route and is a
    404 like any unknown id, instead of reaching the database and ending in a 500.

    The bound is in the regex, not only in ``max``: werkzeug checks ``max`` after it has
    picked a rule, and when that check fails on a path that another method's rule also
    matched (GET and POST /care/<id>) it answers 405, not 404."""

    regex = _decimal_at_most(STORE_INT_MAX)

    def __init__(
        self,
        map: Map,  # noqa: A002  (werkzeug's name for it)
        fixed_digits: int = 0,
        min: int | None = None,  # noqa: A002
        max: int | None = None,  # noqa: A002
        signed: bool = False,
    ) -> None:
        super().__init__(
            map,
            fixed_digits,
            STORE_INT_MIN if min is None else min,
            STORE_INT_MAX if max is None else max,
            signed,
        )


def in_store_range(number: int) -> bool:
    """Whether an id read from a query or a form (``type=int`` takes any size) can be
    looked up at all; one that cannot names no row, and the view answers as for any id the
    store lacks."""
    return STORE_INT_MIN <= number <= STORE_INT_MAX
