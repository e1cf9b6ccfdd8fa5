"""Result files made of sections (`benchmarks/FLEET.md`: one per fleet benchmark;
`benchmarks/MEMORY.md`: one per size and commit); each run rewrites its own."""

from __future__ import annotations

import re
from pathlib import Path

TITLE = "# Fleet benchmarks\n\nWritten by `make bench-scale`; never edited by hand.\n"


def write_section(path: Path, text: str, title: str = TITLE) -> None:
    """Replaces the section (`## heading` to the next one) that `text` starts, or appends it."""
    heading = text.splitlines()[0]
    current = path.read_text() if path.exists() else ""
    preamble, *sections = re.split(r"(?m)^(?=## )", current)
    new = text.rstrip("\n")
    kept = [new if s.splitlines()[0] == heading else s.rstrip("\n") for s in sections]
    if new not in kept:
        kept.append(new)
    parts = [preamble.rstrip("\n") if preamble.startswith("# ") else title.rstrip("\n")]
    path.write_text("\n\n".join([*parts, *kept]) + "\n")
