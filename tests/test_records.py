"""The JSON record beside a checkpoint: atomic writes, wrapped commands, chained totals."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tutorial.records import (
    format_command,
    read_record,
    recorded_commands,
    rerun,
    training_totals,
    write_record,
)


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


def test_rerun_remakes_a_checkpoint_from_its_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Train, export and evaluate with the CLI; then remake all three from the record elsewhere."""
    monkeypatch.setenv("VAE_TUTORIAL_FALLBACK", "1")  # the offline fallback
    first = tmp_path / "first"
    first.mkdir()
    for argv in (
        ["train", "--latent-dim", "2", "--hidden-dims", "16", "--epochs", "1",
         "--batch-size", "256", "--out", "checkpoints/runs/tiny.pt", "--no-progress"],
        ["export", "checkpoints/runs/tiny.pt", "checkpoints/tiny.pt"],
        ["evaluate", "checkpoints/tiny.pt", "--k", "2", "--n-test", "20", "--no-progress"],
    ):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "vae_tutorial", *argv], cwd=first,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
    record = read_record(first / "checkpoints" / "tiny.pt")
    assert [c.split()[3] for c in recorded_commands(record)] == ["train", "export", "evaluate"]

    rerun(record, tmp_path / "again")
    again = read_record(tmp_path / "again" / "checkpoints" / "tiny.pt")
    same = ("train_loss", "validation_loss", "validation_kl")  # everything but the seconds
    assert [again["final"][k] for k in same] == [record["final"][k] for k in same]
    assert again["evaluation"]["iwae"]["2"]["nll"] == record["evaluation"]["iwae"]["2"]["nll"]
    with pytest.raises(RuntimeError, match="exists.*empty folder"):
        rerun(record, tmp_path / "again")  # its files are there now: a clear error, not a crash

    # a second cycle that starts from the exported file: its record makes that file again first
    cycle = ["train", "--latent-dim", "2", "--hidden-dims", "16", "--epochs", "1", "--lr", "3e-4",
             "--batch-size", "256", "--init-from", "checkpoints/tiny.pt",
             "--out", "checkpoints/runs/cycle2.pt", "--no-progress"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "vae_tutorial", *cycle], cwd=first,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    chained = read_record(first / "checkpoints" / "runs" / "cycle2.pt")
    assert [c.split()[3] for c in recorded_commands(chained)] == ["train", "export", "train"]
    rerun(chained, tmp_path / "chain")
    remade = read_record(tmp_path / "chain" / "checkpoints" / "runs" / "cycle2.pt")
    assert [remade["final"][k] for k in same] == [chained["final"][k] for k in same]
    # both records in one folder: the train and export they share run once, then the rest
    rerun([record, chained], tmp_path / "family")
    for name in ("tiny.pt", "runs/cycle2.pt"):
        assert (tmp_path / "family" / "checkpoints" / name).exists()


def test_commands_come_back_in_the_order_they_ran() -> None:
    train = "python -m vae_tutorial train --epochs 1 --out checkpoints/runs/a.pt"
    export = "python -m vae_tutorial export checkpoints/runs/a.pt checkpoints/a.pt"
    before = "python -m vae_tutorial evaluate checkpoints/runs/a.pt --k 5"
    after = "python -m vae_tutorial evaluate checkpoints/a.pt --n-test 20 --k 5"
    repeat = "python -m vae_tutorial evaluate checkpoints/a.pt --k 5 --seed 1"
    evaluated_first = {"commands": [train], "exported": {"command": export},
                       "evaluation": {"command": before}}  # fmt: skip
    assert recorded_commands(evaluated_first) == [train, before, export]
    exported_first = {"commands": [train], "exported": {"command": export},
                      "evaluation": {"command": after},
                      "evaluation_repeats": [{"command": repeat}]}  # fmt: skip
    assert recorded_commands(exported_first) == [train, export, after, repeat]
