"""What one sync did: rows read and changed per entity, the events it recorded, problems."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class SyncReport:
    read: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    events: list[tuple[str, str]] = field(default_factory=list)  # (kind, subject)
    # Things a person should look at (a window read refused as a mass deletion).
    problems: list[str] = field(default_factory=list)
    # Record types whose every query had finished its initial import before this run:
    # their changes were news. The no-show sweep (core/visits/no_show_sweep.py) speaks
    # only once the appointments are.
    live: set[str] = field(default_factory=set)

    def summary(self) -> str:
        parts = [f"{e}: {self.read[e]} read, {self.changed[e]} changed" for e in self.read]
        kinds = Counter(kind for kind, _ in self.events)
        if kinds:
            parts.append("events: " + ", ".join(f"{k} ×{n}" for k, n in sorted(kinds.items())))
        parts.extend(f"problem: {p}" for p in self.problems)
        return "; ".join(parts) or "nothing to read"
