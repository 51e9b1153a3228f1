"""The JSON record beside every checkpoint: how it was made, and what it measured.

``python -m vae_tutorial train`` writes it (the exact commands, the configuration, the per-epoch
losses, the time) and ``evaluate`` adds its results. Chapters read it to print how a reference
model was made, so the numbers on the page are the ones the commands produced.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

__all__ = ["record_path", "read_record", "write_record", "format_command", "training_totals"]


def record_path(checkpoint: str | os.PathLike[str]) -> Path:
    """``model.pt`` -> ``model.json``."""
    return Path(checkpoint).with_suffix(".json")


def read_record(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """The record beside ``checkpoint``, or an empty one if there is none."""
    path = record_path(checkpoint)
    return json.loads(path.read_text()) if path.is_file() else {}


def write_record(checkpoint: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write the record beside ``checkpoint`` atomically (temporary file, then ``os.replace``)."""
    path = record_path(checkpoint)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def format_command(command: str, width: int = 72, indent: str = "    ") -> str:
    """A shell command wrapped to ``width`` columns, each ``--flag`` kept with its values."""
    groups: list[list[str]] = []
    for token in shlex.split(command):
        if token.startswith("--") or not groups:
            groups.append([])
        groups[-1].append(token)
    lines = [""]
    for group in map(shlex.join, groups):
        if lines[-1] and len(lines[-1]) + len(group) >= width:
            lines.append("")
        lines[-1] += (" " if lines[-1] else "") + group
    return indent + f" \\\n{indent}    ".join(lines)


def training_totals(record: dict[str, Any]) -> tuple[int, float]:
    """Epochs and minutes of the whole chain of runs: this one plus every ``--init-from`` before."""
    earlier = record.get("initialized_from") or {}
    return (
        record["epochs"] + (earlier.get("epochs") or 0),
        record["minutes"] + (earlier.get("minutes") or 0.0),
    )
