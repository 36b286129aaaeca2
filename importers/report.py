"""What an import tells the operator: progress while it runs (stderr), and at the end, in every case, a report of
each table (stdout): how many source rows, how many copied, how many already there, how many skipped and why.

A reason marked `!` is one the operator must act on (a row our schema refuses, a stored object not found, an api
key left behind); the command's exit status says whether any was met (opentr_cli: 3). Every other reason is the
import doing what it promises, such as not putting back what a user deleted here.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

EXAMPLES = 5  # source keys named per reason that needs the operator, so they can find the rows


@dataclass
class TableReport:
    source: int = 0
    copied: int = 0
    present: int = 0  # copied by an earlier run and still here, or matched to an existing row
    skipped: Counter[str] = field(default_factory=Counter)
    attention: set[str] = field(default_factory=set)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, *, attention: bool = False, key: str | None = None, count: int = 1) -> None:
        if count <= 0:
            return
        self.skipped[reason] += count
        if attention:
            self.attention.add(reason)
            if key is not None and len(self.examples.setdefault(reason, [])) < EXAMPLES:
                self.examples[reason].append(key)

    @property
    def counted(self) -> int:
        return self.copied + self.present + sum(self.skipped.values())


@dataclass
class Report:
    version: str
    tables: dict[str, TableReport] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)
    attention_notes: set[str] = field(default_factory=set)
    stopped: str | None = None  # why the run ended before its last table
    not_reached: list[str] = field(default_factory=list)

    def table(self, name: str) -> TableReport:
        return self.tables.setdefault(name, TableReport())

    def note(self, what: str, *, attention: bool = False) -> None:
        self.notes[what] += 1
        if attention:
            self.attention_notes.add(what)

    @property
    def needs_attention(self) -> bool:
        return bool(self.attention_notes) or any(t.attention for t in self.tables.values())

    def render(self) -> str:
        lines = [
            f"OpenTranscribe schema: {self.version}",
            f"{'table':<28}{'source':>8}{'copied':>8}{'already there':>15}{'skipped':>9}",
        ]
        for name, t in self.tables.items():
            lines.append(f"{name:<28}{t.source:>8}{t.copied:>8}{t.present:>15}{sum(t.skipped.values()):>9}")
            for why, n in t.skipped.most_common():
                keys = t.examples.get(why)
                named = f" (source rows {'; '.join(keys)}{'; ...' if n > len(keys) else ''})" if keys else ""
                lines.append(f"    {'!' if why in t.attention else ' '} {n} {why}{named}")
        lines += [f"{'! ' if what in self.attention_notes else ''}note: {n} {what}" for what, n in self.notes.items()]
        if self.stopped is not None:
            lines.append(f"! stopped: {self.stopped}")
            if self.not_reached:
                lines.append(f"  not reached: {', '.join(self.not_reached)}")
            lines.append("  What was copied stays; run the same command again to go on from there.")
        elif self.needs_attention:
            lines.append("Lines marked ! need you: correct those rows in OpenTranscribe (or give what is missing),")
            lines.append("then run the import again; it adds them and nothing else.")
        else:
            lines.append("Nothing needs your attention.")
        return "\n".join(lines)


class Progress:
    """Progress on stderr. On a terminal, one bar per table redrawn in place (`speakers [####    ] 120/180`); to a
    file or a pipe (a log), plain lines: one per tenth of a table and one when it is done, so that a log shows how
    far a run got and no line is ever glued to the next."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        isatty = getattr(self.out, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self.open = False  # a bar is drawn without its line end
        self.logged: dict[str, int] = {}  # the tenth of each table last written to the log

    def __call__(self, table: str, done: int, total: int) -> None:
        if self.terminal:
            width = 30
            filled = width * done // total if total else width
            end = "\n" if done >= total else ""
            self.out.write(f"\r{table:<28}[{'#' * filled}{' ' * (width - filled)}] {done}/{total}{end}")
            self.open = not end
        else:
            tenth = 10 * done // total if total else 10
            if tenth <= self.logged.get(table, 0) and done < total:
                return
            self.out.write(f"{table}: {done}/{total}{' done' if done >= total else ''}\n")
            self.logged[table] = tenth
        self.out.flush()

    def close(self) -> None:
        """Ends a bar left open (the run stopped inside a table), so that what follows starts its own line."""
        if self.open:
            self.out.write("\n")
            self.out.flush()
            self.open = False
