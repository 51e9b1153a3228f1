"""The JSON record beside a checkpoint: atomic writes, wrapped commands, chained totals."""

from __future__ import annotations

import shlex
from pathlib import Path

from vae_tutorial.records import format_command, read_record, training_totals, write_record


def test_write_then_read_round_trips_and_a_missing_record_is_empty(tmp_path: Path) -> None:
    assert read_record(tmp_path / "none.pt") == {}
    written = write_record(tmp_path / "model.pt", {"epochs": 3, "commands": ["a b"]})
    assert written == tmp_path / "model.json"
    assert read_record(tmp_path / "model.pt") == {"epochs": 3, "commands": ["a b"]}
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]  # no temporary file left


def test_a_wrapped_command_keeps_flags_with_their_values_and_means_the_same() -> None:
    command = (
        "python -m vae_tutorial train --latent-dim 50 --hidden-dims 200 200 --activation tanh "
        "--epochs 1000 --batch-size 50 --lr 1e-3 --lr-schedule cosine --out 'runs/my run.pt'"
    )
    text = format_command(command, width=40)
    lines = text.splitlines()
    assert len(lines) > 1 and all(line.endswith(" \\") for line in lines[:-1])
    assert all(len(line) <= 40 + 8 for line in lines)
    assert "--hidden-dims 200 200" in text
    assert shlex.split(text.replace("\\\n", " ")) == shlex.split(command)


def test_training_totals_add_up_a_chain_of_runs() -> None:
    assert training_totals({"epochs": 20, "minutes": 1.5}) == (20, 1.5)
    chained = {"epochs": 600, "minutes": 40.0, "initialized_from": {"epochs": 1300, "minutes": 108}}
    assert training_totals(chained) == (1900, 148.0)
