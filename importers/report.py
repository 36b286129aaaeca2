"""What an import tells the operator: a progress bar per table while it runs, and counts per table at the end."""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class TableReport:
    source: int = 0
    copied: int = 0
    present: int = 0  # copied by an earlier run, or matched to an existing row
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass
class Report:
    version: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)

    def table(self, name: str) -> TableReport:
        return self.tables.setdefault(name, TableReport())

    def render(self) -> str:
        lines = [f"OpenTranscribe schema: {self.version}", f"{'table':<28}{'source':>8}{'copied':>8}{'present':>9}"]
        for name, t in self.tables.items():
            skipped = "; ".join(f"{n} {why}" for why, n in t.skipped.items())
            lines.append(
                f"{name:<28}{t.source:>8}{t.copied:>8}{t.present:>9}" + (f"  skipped: {skipped}" if skipped else "")
            )
        lines += [f"note: {n} {what}" for what, n in self.notes.items()]
        return "\n".join(lines)


class Progress:
    """One line per table on stderr, redrawn in place: `speakers [########    ] 120/180`."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr

    def __call__(self, table: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        end = "\n" if done >= total else ""
        self.out.write(f"\r{table:<28}[{'#' * filled}{' ' * (width - filled)}] {done}/{total}{end}")
        self.out.flush()
