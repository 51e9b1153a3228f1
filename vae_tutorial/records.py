"""The JSON record beside every checkpoint: how it was made, and what it measured.

``python -m vae_tutorial train`` writes it (the exact commands, the configuration, the per-epoch
losses, the time) and ``evaluate`` adds its results. Chapters read it to print how a reference
model was made, so the numbers on the page are the ones the commands produced.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "RecordError",
    "record_path",
    "check_record_writable",
    "read_record",
    "write_record",
    "format_command",
    "training_totals",
    "recorded_commands",
    "rerun",
]


def record_path(checkpoint: str | os.PathLike[str]) -> Path:
    """``model.pt`` -> ``model.json``."""
    return Path(checkpoint).with_suffix(".json")


class RecordError(ValueError):
    """A record cannot be read, or would be written as invalid JSON or into a read-only folder."""


def read_record(checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """The record beside ``checkpoint``, or an empty one if there is none.

    Raises:
        RecordError: the file is not a JSON object (truncated, hand-edited, another program's).
    """
    path = record_path(checkpoint)
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordError(
            f"the record {path} is not valid JSON ({err}). Nothing was changed. Restore it "
            f"(for a committed one: git checkout -- {path}) or move it away to start a new one."
        ) from None
    if not isinstance(record, dict):
        raise RecordError(
            f"the record {path} holds a JSON {type(record).__name__}, not an object. Nothing was "
            "changed. Restore it or move it away to start a new one."
        )
    return record


def check_record_writable(checkpoint: str | os.PathLike[str]) -> Path:
    """Insist that the record beside ``checkpoint`` can be written, before any work is done."""
    path = record_path(checkpoint)
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.check-"):
            pass
    except OSError as err:
        raise RecordError(
            f"cannot write the record {path}: {err.strerror or err}. Nothing was run. Make the "
            "folder writable, or pass --no-record to print the results only."
        ) from None
    return path


def write_record(checkpoint: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write the record beside ``checkpoint`` atomically (temporary file, then ``os.replace``),
    as strict JSON: a NaN or an infinity is refused, and the old record kept."""
    path = record_path(checkpoint)
    try:
        text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise RecordError(
            f"the record for {path} holds a NaN or an infinite number, which JSON cannot store; "
            "it was not written (the old record, if any, is unchanged)."
        ) from None
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
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
    """Epochs and minutes of the whole chain of runs: this one plus every ``--init-from`` before.

    A record without training (a checkpoint saved outside the CLI) counts as 0 epochs, 0 minutes.
    """
    earlier = record.get("initialized_from") or {}
    return (
        (record.get("epochs") or 0) + (earlier.get("epochs") or 0),
        (record.get("minutes") or 0.0) + (earlier.get("minutes") or 0.0),
    )


def recorded_commands(record: dict[str, Any]) -> list[str]:
    """Every command a record holds, in the order they ran: train, then export and evaluate.

    An evaluation of the training run's own file ran before the export (which copied its result
    into the exported record); an evaluation of the exported file ran after it. Repeats come last.
    """
    from vae_tutorial.cli_flags import build_parser  # here: the parser imports torch, the rest not

    def parsed(command: str) -> Any:
        return build_parser().parse_args(shlex.split(command)[3:])

    commands = list(record.get("commands", []))
    evaluation = record.get("evaluation", {}).get("command")
    exported = record.get("exported", {}).get("command")
    if evaluation and exported and parsed(evaluation).checkpoint != parsed(exported).out:
        commands += [evaluation, exported]
    else:
        commands += [c for c in (exported, evaluation) if c]
    return commands + [repeat["command"] for repeat in record.get("evaluation_repeats", [])]


def rerun(
    record: dict[str, Any] | Sequence[dict[str, Any]], workdir: str | os.PathLike[str]
) -> None:
    """Run a record's commands again, in order, inside ``workdir``, printing their output.

    The paths in the commands are relative (``checkpoints/runs/...``), so everything is written
    under ``workdir`` and the committed reference files are left alone. Several records (models
    continued from one run) share the folder: a command they have in common runs once.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    records = [record] if isinstance(record, dict) else list(record)
    for command in dict.fromkeys(c for r in records for c in recorded_commands(r)):
        argv = shlex.split(command)
        if argv[:3] != ["python", "-m", "vae_tutorial"]:
            raise ValueError(f"not a vae_tutorial command: {command!r}")
        print(f"$ {command}", flush=True)
        done = subprocess.run(
            [sys.executable, *argv[1:]], cwd=workdir, capture_output=True, text=True
        )
        print(done.stdout, end="", flush=True)
        if done.returncode != 0:
            raise RuntimeError(
                f"`{command}` failed in {workdir} (exit {done.returncode}):\n{done.stderr.strip()}"
                "\nIf a file it writes exists already, rerun in an empty folder."
            )
