"""Chapter 12's controlled comparison: its records exist, were made by the CLI on a matched budget
with the validation split, and were scored once on the whole test set; the runs from before the
split say that they were chosen on the test set; the chapter tells the experiment, not its log."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"
CHAPTER = ROOT / "chapters" / "12_convolutional_vae.ipynb"
CELLS = ("mlp_elbo", "mlp_iw5", "conv_elbo", "conv_iw5")
SEEDS = (0, 1, 2)
GRID = [f"cmp_{cell}_s{seed}" for cell in CELLS for seed in SEEDS]
BEFORE_THE_SPLIT = ["burda_vae", "mnist_vae20", "mnist_cvae20", "mnist_dvae20", "mnist_latent2",
                    "mnist_conv", "mnist_conv_iw1", "mnist_conv_iw5", "mnist_conv_iw50",
                    "mnist_conv_iw50_2", "mnist_conv_iw50_3", "mnist_conv_iw50_4",
                    "mnist_conv_iw50_5"]  # fmt: skip


def _record(name: str) -> dict:
    return json.loads((CHECKPOINTS / f"{name}.json").read_text())


def _flags(command: str) -> dict[str, str]:
    """A train command's flags and their values (a flag without one maps to "")."""
    words = shlex.split(command)[3:]
    flags, key = {}, None
    for word in words:
        if word.startswith("--"):
            key = word
            flags[key] = ""
        elif key is not None:
            flags[key] = f"{flags[key]} {word}".strip()
    return flags


@pytest.mark.parametrize("name", GRID)
def test_each_run_is_a_cli_run_chosen_on_validation_and_scored_on_the_whole_test_set(
    name: str,
) -> None:
    record = _record(name)
    assert record["commands"][0].startswith("python -m vae_tutorial train ")
    assert record["chosen_on"].startswith("validation")
    assert "10,000 validation" in record["data"] and record["data"].startswith("full MNIST")
    assert "validation_loss" in record["history"] and "test_loss" not in record["history"]
    evaluation = record["evaluation"]
    assert evaluation["test_digits"] == 10_000
    ks = {"1", "100", "1000"} if name.endswith("_s0") else {"1", "100"}
    assert ks <= set(evaluation["iwae"]) and ks <= set(evaluation["per_digit"])
    assert (CHECKPOINTS / f"{name}.pt").is_file() == name.endswith("_s0")  # the rest: records


def test_the_budget_is_matched_and_only_architecture_objective_and_seed_differ() -> None:
    settings = {}
    for name in GRID:
        flags = _flags(_record(name)["commands"][0])
        seed = flags.pop("--seed")
        assert name.endswith(f"_s{seed}")
        architecture = flags.pop("--architecture"), flags.pop("--hidden-dims")
        k = flags.pop("--importance-samples", "1")
        assert ("conv" in name) == (architecture[0] == "conv") and ("iw5" in name) == (k == "5")
        flags.pop("--out")
        settings[name] = flags
    first = next(iter(settings.values()))
    assert first["--epochs"] == "10" and first["--latent-dim"] == "32"
    assert all(flags == first for flags in settings.values()), settings


@pytest.mark.parametrize("name", BEFORE_THE_SPLIT)
def test_records_from_before_the_split_say_they_were_chosen_on_the_test_set(name: str) -> None:
    assert _record(name)["chosen_on"].startswith("test")


def test_chain_intermediates_keep_only_their_records() -> None:
    for name in BEFORE_THE_SPLIT[5:-1]:
        assert not (CHECKPOINTS / f"{name}.pt").exists(), name
        assert _record(name)["commands"]  # its commands make it again
    assert (CHECKPOINTS / "mnist_conv_iw50_5.pt").is_file()


def test_the_chapter_tells_the_experiment_not_its_log() -> None:
    notebook = json.loads(CHAPTER.read_text())
    markdown = "\n".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    headings = [line for line in markdown.splitlines() if line.startswith("#")]
    assert not [h for h in headings if re.search(r"\btry\b", h, re.IGNORECASE)], headings
    for phrase in ("allocator", "faster machine", "shared machine", "page fault"):
        assert phrase not in markdown.lower(), phrase
    words = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "mainpath_words.py"), str(CHAPTER)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    count = int(words.split()[0])  # "<words>\t<file>" per file, then the total
    assert count <= 2500, words
    sources = "\n".join("".join(c["source"]) for c in notebook["cells"])
    for name in ("cmp_conv_iw5_s0", "mnist_conv_iw50_5", "paired_difference", "validation"):
        assert name in sources, name
