"""The learned-prior reference (issue 39): chapter 12's MLP -ELBO runs again with a mixture of 10
learned Gaussians as p(z). Its records exist, were made by the CLI on the grid's budget with only
the prior changed, were chosen on nothing but the validation split and scored once on the whole
test set; the paired comparison chapter 8 quotes is the one the records give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vae_tutorial.evaluate import paired_difference

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = ROOT / "checkpoints"
CHAPTER = ROOT / "chapters" / "08_latent_space.ipynb"
SEEDS = (0, 1, 2)
PRIOR_FLAGS = "--prior mixture --prior-components 10"


def _record(name: str) -> dict:
    return json.loads((CHECKPOINTS / f"{name}.json").read_text())


def _nll(name: str, k: int) -> torch.Tensor:
    """-L_k of every test digit, from the record (nats)."""
    return -torch.tensor(_record(name)["evaluation"]["per_digit"][str(k)], dtype=torch.float64)


def paired(seed: int, k: int) -> tuple[float, float, int]:
    """Mixture minus standard normal, -L_k per digit: mean, paired standard error, and how many
    digits the mixture prior improves (a lower -L_k)."""
    mixture, normal = _nll(f"cmp_mlp_mixture_s{seed}", k), _nll(f"cmp_mlp_elbo_s{seed}", k)
    mean, se = paired_difference(mixture, normal)
    return mean, se, int((mixture < normal).sum())


@pytest.mark.parametrize("seed", SEEDS)
def test_each_run_is_the_grids_mlp_elbo_run_with_only_the_prior_changed(seed: int) -> None:
    record, normal = _record(f"cmp_mlp_mixture_s{seed}"), _record(f"cmp_mlp_elbo_s{seed}")
    (command,) = record["commands"]
    assert command.startswith("python -m vae_tutorial train ") and PRIOR_FLAGS in command
    expected = normal["commands"][0].replace(" --seed", f" {PRIOR_FLAGS} --seed")
    assert command == expected.replace("cmp_mlp_elbo", "cmp_mlp_mixture")
    assert record["model"] == {**normal["model"], "prior": "mixture", "prior_components": 10}
    assert record["training"] == normal["training"]
    assert record["chosen_on"].startswith("validation")
    assert record["data"].startswith("full MNIST") and "10,000 validation" in record["data"]
    assert len(record["history"]["validation_loss"]) == 10 and "test_loss" not in record["history"]
    evaluation = record["evaluation"]
    assert evaluation["test_digits"] == 10_000
    for same in ("data", "binarization_seed", "seed"):
        assert evaluation[same] == normal["evaluation"][same], same
    ks = {"1", "100", "1000", "5000"} if seed == 0 else {"1", "100"}
    assert ks <= set(evaluation["iwae"]) and ks <= set(evaluation["per_digit"])
    assert (CHECKPOINTS / f"cmp_mlp_mixture_s{seed}.pt").is_file() == (seed == 0)


def test_the_standard_normal_model_is_scored_at_k_5000_too() -> None:
    evaluation = _record("cmp_mlp_elbo_s0")["evaluation"]
    assert {"1", "100", "1000", "5000"} <= set(evaluation["per_digit"])
    assert len(evaluation["per_digit"]["5000"]) == 10_000


def _box() -> tuple[str, str]:
    """Chapter 8's collapsed box on the learned prior: its text, and the code and printed outputs
    of the cells that follow it."""
    cells = json.loads(CHAPTER.read_text())["cells"]
    start = next(i for i, c in enumerate(cells) if "Going deeper: a learned prior" in
                 "".join(c["source"]))  # fmt: skip
    printed = []
    for cell in cells[start + 1 :]:
        if cell["cell_type"] != "code":
            break
        printed += ["".join(cell["source"])]
        printed += ["".join(o.get("text", "")) for o in cell.get("outputs", [])]
    return "".join(cells[start]["source"]), "\n".join(printed)


def _ks(seed: int) -> list[int]:
    """The k > 1 at which both of a seed's records hold every digit's bound."""
    held = [set(_record(f"cmp_mlp_{prior}_s{seed}")["evaluation"]["per_digit"])
            for prior in ("mixture", "elbo")]  # fmt: skip
    return sorted(int(k) for k in held[0] & held[1] if k != "1")


def test_chapter_8_quotes_the_records() -> None:
    """The box's text quotes the paired comparison at k = 100 for every seed; its last cell
    prints it at every k both records hold (so a new evaluation needs the chapter run again),
    with the validation losses."""
    text, printed = _box()
    assert "{cite:t}`tomczak2018vae`" in text
    mean, se, better = paired(0, 5000)
    assert f"{mean:+.2f} ± {se:.2f} nats" in text and f"{better:,} of the 10,000" in text
    for seed in SEEDS:
        mean, se, better = paired(seed, 100)
        assert f"seed {seed}: {mean:+.2f} ± {se:.2f}" in text, (seed, mean, se)
        assert f"{better:,}" in text, (seed, better)
        for k in _ks(seed):
            mean, se, better = paired(seed, k)
            line = f"seed {seed}, k = {k:>5,}: {mean:+.2f} ± {se:.2f} nats, {better:,} of the"
            assert line in printed, line
        losses = [_record(f"cmp_mlp_{p}_s{seed}")["final"]["validation_loss"]
                  for p in ("elbo", "mixture")]  # fmt: skip
        validation = f"seed {seed}, validation: {losses[0]:.2f} with N(0, I), {losses[1]:.2f} with"
        assert validation in printed, validation
