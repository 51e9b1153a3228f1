"""The command line: a full train/resume/evaluate/sample/export round, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae_tutorial.__main__ import main


def _run(*args: str, env_data: Path) -> subprocess.CompletedProcess[str]:
    env = {"VAE_TUTORIAL_DATA": str(env_data), "VAE_TUTORIAL_OFFLINE": "1",
           "VAE_TUTORIAL_FALLBACK": "1", "PATH": "/usr/bin:/bin"}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "vae_tutorial", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_train_resume_evaluate_sample_export(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "tiny.pt"
    common = ["--latent-dim", "2", "--hidden-dims", "32", "--batch-size", "256", "--no-progress"]
    first = _run("train", "--epochs", "1", "--out", str(out), *common, env_data=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "offline fallback" in first.stdout and "epoch   1/1" in first.stdout
    again = _run("train", "--epochs", "1", "--out", str(out), *common, env_data=tmp_path)
    assert again.returncode == 2 and "exists. Add --resume" in again.stderr
    resumed = _run(
        "train", "--epochs", "2", "--out", str(out), "--resume", *common, env_data=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming" in resumed.stdout and "epoch   2/2" in resumed.stdout
    assert "epoch   1/" not in resumed.stdout
    other = _run(
        "train",
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--out",
        str(out),
        "--resume",
        *common,
        env_data=tmp_path,
    )
    assert other.returncode != 0 and "trained with" in other.stderr

    record = json.loads(out.with_suffix(".json").read_text())
    assert record["commands"][0].startswith("python -m vae_tutorial train --epochs 1")
    assert "--resume" in record["commands"][1] and len(record["commands"]) == 2
    assert record["epochs"] == 2 and record["model"]["latent_dim"] == 2
    assert set(record["final"]) >= {"train_loss", "validation_loss", "validation_kl"}

    second = tmp_path / "runs" / "second.pt"
    cycle = ["train", "--epochs", "1", "--lr", "3e-4", "--out", str(second)]
    mismatch = _run(*cycle, "--init-from", str(out), "--no-progress", env_data=tmp_path)
    assert mismatch.returncode == 2 and "--init-from" in mismatch.stderr
    assert "784-32-2" in mismatch.stderr and "784-400-20" in mismatch.stderr
    warm = _run(*cycle, "--init-from", str(out), *common, env_data=tmp_path)
    assert warm.returncode == 0, warm.stderr
    chained = json.loads(second.with_suffix(".json").read_text())
    assert chained["commands"][:2] == record["commands"] and "--init-from" in chained["commands"][2]
    assert chained["initialized_from"]["epochs"] == 2 and chained["epochs"] == 1
    # it starts where the first run ended: its first epoch beats a fresh model's first epoch
    assert chained["history"]["train_loss"][0] < record["history"]["train_loss"][0]
    # a third cycle counts the epochs and minutes of both before it
    third = tmp_path / "runs" / "third.pt"
    again = _run(*cycle[:-1], str(third), "--init-from", str(second), *common, env_data=tmp_path)
    assert again.returncode == 0, again.stderr
    chain = json.loads(third.with_suffix(".json").read_text())
    assert len(chain["commands"]) == 4 and chain["initialized_from"]["epochs"] == 3
    before = record["minutes"] + chained["minutes"]
    assert abs(chain["initialized_from"]["minutes"] - before) <= 0.01

    evaluated = _run(
        "evaluate", str(out), "--k", "1", "5", "--n-test", "50", "--no-progress", env_data=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert "k =     5: test NLL" in evaluated.stdout
    evaluation = json.loads(out.with_suffix(".json").read_text())["evaluation"]
    assert set(evaluation["iwae"]) == {"1", "5"} and evaluation["test_digits"] == 50
    assert (
        evaluation["iwae"]["5"]["nll"]
        <= evaluation["iwae"]["1"]["nll"] + 3 * evaluation["iwae"]["1"]["standard_error"]
    )
    # every digit's bound is kept, in order, for paired comparisons; its mean is the NLL
    per_digit = evaluation["per_digit"]
    assert set(per_digit) == {"1", "5"} and all(len(v) == 50 for v in per_digit.values())
    assert -sum(per_digit["5"]) / 50 == pytest.approx(evaluation["iwae"]["5"]["nll"], abs=1e-3)

    # another binarization of the test digits is recorded beside the main evaluation, once
    for _ in range(2):
        repeat = _run("evaluate", str(out), "--k", "5", "--n-test", "50", "--binarization-seed",
                      "7", "--no-progress", env_data=tmp_path)  # fmt: skip
        assert repeat.returncode == 0, repeat.stderr
    again_record = json.loads(out.with_suffix(".json").read_text())
    assert again_record["evaluation"] == evaluation
    (repeated,) = again_record["evaluation_repeats"]
    assert (repeated["seed"], repeated["binarization_seed"]) == (0, 7)
    assert repeated["iwae"]["5"]["nll"] != evaluation["iwae"]["5"]["nll"]

    png = tmp_path / "samples.png"
    sampled = _run("sample", str(out), "--n", "16", "--out", str(png), env_data=tmp_path)
    assert sampled.returncode == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "decoder means" in sampled.stdout
    drawn = _run("sample", str(out), "--n", "16", "--draws", "--out", str(png), env_data=tmp_path)
    assert drawn.returncode == 0 and "binary draws" in drawn.stdout

    slim = tmp_path / "slim.pt"
    exported = _run("export", str(out), str(slim), env_data=tmp_path)
    assert exported.returncode == 0 and slim.stat().st_size < out.stat().st_size


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--latent-dim", "-3", "--out", "x.pt"],
            "--latent-dim: must be from 1 to 65,536",
        ),
        (["train", "--epochs", "ten", "--out", "x.pt"], "expected a positive integer, got 'ten'"),
        (["train", "--lr", "0", "--out", "x.pt"], "--lr: must be positive"),
        (["train", "--out", "/proc/no/such/dir/x.pt"], "cannot write --out"),
        (
            ["train", "--out", "x.pt", "--data-root", "/no/such/folder"],
            "--data-root /no/such/folder does not exist",
        ),
        (["train"], "the following arguments are required: --out"),
        (["train", "--beta", "-1", "--out", "x.pt"], "--beta: must be a finite number >= 0"),
        (["train", "--free-bits", "lots", "--out", "x.pt"], "expected a number >= 0, got 'lots'"),
        (
            ["train", "--kl-warmup-epochs", "-2", "--out", "x.pt"],
            "--kl-warmup-epochs: must be >= 0",
        ),
        (
            ["train", "--epochs", "2", "--kl-warmup-epochs", "5", "--out", "x.pt"],
            "kl_warmup_epochs (5) exceeds epochs (2)",
        ),
        (["train", "--importance-samples", "0", "--out", "x.pt"], "--importance-samples: must be"),
        (
            ["train", "--importance-samples", "5", "--beta", "2", "--out", "x.pt"],
            "importance_samples=5 trains the importance-weighted bound",
        ),
        (["train", "--prior", "vamp", "--out", "x.pt"], "--prior: invalid choice: 'vamp'"),
        (
            ["train", "--prior", "mixture", "--out", "x.pt"],
            "--prior mixture needs --prior-components K",
        ),
        (
            ["train", "--prior-components", "3", "--out", "x.pt"],
            "--prior-components 3: the normal prior N(0, I) has no components",
        ),
        (
            ["train", "--prior", "mixture", "--prior-components", "0", "--out", "x.pt"],
            "--prior-components: must be a positive integer, got 0",
        ),
        (
            ["train", "--prior", "mixture", "--prior-components", "two", "--out", "x.pt"],
            "--prior-components: expected a positive integer, got 'two'",
        ),
    ],
)
def test_bad_arguments_get_clear_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_resuming_a_first_run_that_wrote_no_record_keeps_its_chain(tmp_path: Path) -> None:
    """A first command interrupted after a checkpoint but before its record (Ctrl-C, a kill): the
    resumed run's record starts again from --init-from, with the command that makes it in one go
    and the minutes of all its epochs."""
    common = ["--latent-dim", "2", "--hidden-dims", "32", "--batch-size", "256", "--no-progress"]
    parent, child = tmp_path / "parent.pt", tmp_path / "runs" / "child.pt"
    assert _run("train", "--epochs", "1", "--out", str(parent), *common,
                env_data=tmp_path).returncode == 0  # fmt: skip
    cycle = ["train", "--epochs", "2", "--lr", "3e-4", "--init-from", str(parent), "--out"]
    first = _run(*cycle, str(child), *common, env_data=tmp_path)
    assert first.returncode == 0, first.stderr
    complete = json.loads(child.with_suffix(".json").read_text())
    child.with_suffix(".json").unlink()  # as if interrupted before the record was written
    resumed = _run(*cycle, str(child), "--resume", *common, env_data=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads(child.with_suffix(".json").read_text())
    assert record["commands"] == complete["commands"]  # the parent's, then this one's
    assert "--resume" not in record["commands"][-1]
    assert record["initialized_from"] == complete["initialized_from"]
    assert record["epochs"] == 2
    assert record["minutes"] == pytest.approx(sum(record["history"]["seconds"]) / 60, abs=0.01)


def test_resume_without_a_checkpoint_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--out", str(tmp_path / "none.pt"), "--resume"])
    assert "no checkpoint at" in capsys.readouterr().err


def test_a_broken_checkpoint_is_reported_not_raised(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x00" * 10)
    with pytest.raises(
        SystemExit, match="error: .*broken.pt is not a readable vae_tutorial checkpoint"
    ):
        main(["sample", str(broken), "--out", str(tmp_path / "s.png")])


def test_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--latent-dim",
        "--hidden-dims",
        "--epochs",
        "--out",
        "--resume",
        "--data-root",
        "--device",
        "--beta",
        "--kl-warmup-epochs",
        "--free-bits",
        "--conditional",
        "--prior",
        "--prior-components",
    ):
        assert flag in text
    assert "(default: 20)" in text
    flat = " ".join(text.split())
    for math in ("rec + β·KL", "w = β·min(1, t/T)", "sum_j max(λ, KL_j)", "q(z|x,y), p(x|z,y)",
                 "sum_k pi_k N(mu_k, diag sigma_k^2)"):  # fmt: skip
        assert math in flat, math


def test_objective_and_conditional_flags_are_recorded(tmp_path: Path) -> None:
    out = tmp_path / "cvae.pt"
    flags = ["--latent-dim", "2", "--hidden-dims", "32", "--batch-size", "256", "--no-progress",
             "--conditional", "--beta", "2", "--kl-warmup-epochs", "1", "--free-bits", "0.25"]
    done = _run("train", "--epochs", "1", "--out", str(out), *flags, env_data=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "conditional on 10 classes" in done.stdout
    assert "minimizing rec + 2 * sum_j max(0.25, KL_j), weight rising from 0 over 1" in done.stdout
    record = json.loads(out.with_suffix(".json").read_text())
    objective = {"beta": 2.0, "kl_warmup_epochs": 1, "free_bits": 0.25, "importance_samples": 1}
    assert record["training"]["objective"] == objective
    assert record["model"]["n_classes"] == 10
    assert "--conditional --beta 2 --kl-warmup-epochs 1 --free-bits 0.25" in record["commands"][0]
    assert set(record["history"]) >= {"train_loss", "train_objective", "validation_loss"}
    from vae_tutorial.train import load_checkpoint

    assert load_checkpoint(out)["train_config"]["objective"] == objective

    beta3 = [*flags[:-6], "--beta", "3", *flags[-4:]]
    other = _run("train", "--epochs", "2", "--out", str(out), "--resume", *beta3,
                 env_data=tmp_path)  # fmt: skip
    assert other.returncode != 0 and "trained with" in other.stderr
    png = tmp_path / "digits.png"
    sampled = _run("sample", str(out), "--n", "10", "--out", str(png), env_data=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert "labels 0-9 in turn" in sampled.stdout
    evaluated = _run("evaluate", str(out), "--k", "1", "10", "--n-test", "10", env_data=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "the bound is on log p(x | y)" in evaluated.stdout
    assert "k =    10: test -log p(x|y)" in evaluated.stdout
    assert json.loads(out.with_suffix(".json").read_text())["evaluation"]["bound"] == "log p(x|y)"


def test_a_convolutional_vae_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "conv.pt"
    flags = ["--architecture", "conv", "--hidden-dims", "4", "8", "--latent-dim", "2",
             "--batch-size", "500", "--no-progress"]  # fmt: skip
    done = _run("train", "--epochs", "1", "--out", str(out), *flags, env_data=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Training a conv 4-8 channels, d=2, relu" in done.stdout
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["model"]["architecture"] == "conv" and record["model"]["hidden_dims"] == [4, 8]
    resumed = _run("train", "--epochs", "2", "--out", str(out), "--resume", *flags,
                   env_data=tmp_path)  # fmt: skip
    assert resumed.returncode == 0 and "epoch   2/2" in resumed.stdout, resumed.stderr
    evaluated = _run("evaluate", str(out), "--k", "2", "--n-test", "10", env_data=tmp_path)
    assert evaluated.returncode == 0 and "test NLL" in evaluated.stdout, evaluated.stderr
    residual = tmp_path / "residual.pt"
    blocks = _run("train", "--epochs", "1", "--out", str(residual), "--residual-blocks", "2",
                  *flags, env_data=tmp_path)  # fmt: skip
    assert blocks.returncode == 0, blocks.stderr
    assert "conv 4-8 channels, 2 residual blocks per stage, d=2" in blocks.stdout
    assert json.loads(residual.with_suffix(".json").read_text())["model"]["residual_blocks"] == 2
    mlp = _run("train", "--out", str(tmp_path / "mlp.pt"), "--residual-blocks", "1",
               env_data=tmp_path)  # fmt: skip
    assert mlp.returncode == 2 and "--residual-blocks 1: residual_blocks must be 0" in mlp.stderr
    three = [*flags[:2], "--hidden-dims", "4", "8", "16", *flags[5:]]
    bad = _run("train", "--out", str(tmp_path / "bad.pt"), *three, env_data=tmp_path)
    assert bad.returncode == 2 and "--hidden-dims 4 8 16: 3 stride-2 stages" in bad.stderr
    assert "7 is odd" in bad.stderr and not (tmp_path / "bad.pt").exists()
    weighted = tmp_path / "iw.pt"
    iw = _run("train", "--epochs", "1", "--out", str(weighted), "--importance-samples", "3",
              "--init-from", str(out), *flags, env_data=tmp_path)  # fmt: skip
    assert iw.returncode == 0, iw.stderr
    assert "minimizing -L_3 (importance-weighted bound)" in iw.stdout
    record = json.loads(weighted.with_suffix(".json").read_text())
    assert record["training"]["objective"]["importance_samples"] == 3
    assert record["initialized_from"]["epochs"] == 2


def test_a_mixture_prior_from_the_command_line(tmp_path: Path) -> None:
    """--prior mixture --prior-components K trains, records, evaluates and samples a VAE whose
    p(z) is a learned mixture; the record's model says so, and the checkpoint loads it back."""
    out = tmp_path / "mixture.pt"
    flags = ["--latent-dim", "2", "--hidden-dims", "32", "--batch-size", "256", "--no-progress",
             "--prior", "mixture", "--prior-components", "3"]  # fmt: skip
    done = _run("train", "--epochs", "1", "--out", str(out), *flags, env_data=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "784-32-2 relu MLP, mixture prior of 3 components" in done.stdout
    record = json.loads(out.with_suffix(".json").read_text())
    assert (record["model"]["prior"], record["model"]["prior_components"]) == ("mixture", 3)
    assert "--prior mixture --prior-components 3" in record["commands"][0]
    from vae_tutorial.prior import MixtureOfGaussiansPrior
    from vae_tutorial.train import load_model

    prior = load_model(out).prior
    assert isinstance(prior, MixtureOfGaussiansPrior) and prior.means.shape == (3, 2)
    assert not torch.equal(prior.logits, torch.zeros(3))  # trained: the weights moved
    evaluated = _run("evaluate", str(out), "--k", "1", "10", "--n-test", "20", env_data=tmp_path)
    assert evaluated.returncode == 0 and "mixture prior of 3 components" in evaluated.stdout
    png = tmp_path / "mixture.png"
    sampled = _run("sample", str(out), "--n", "8", "--out", str(png), env_data=tmp_path)
    assert sampled.returncode == 0 and png.is_file(), sampled.stderr
    plain = _run("train", "--epochs", "1", "--out", str(tmp_path / "plain.pt"), *flags[:7],
                 env_data=tmp_path)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert json.loads((tmp_path / "plain.json").read_text())["model"]["prior"] == "normal"
