"""The command line's flags: the one parser that ``python -m vae_tutorial`` runs with.

It lives below both of its readers: :mod:`vae_tutorial.__main__` parses ``sys.argv`` with it, and
:mod:`vae_tutorial.records` parses the commands a record holds, to put them back in the order they
ran. It knows the flags, their checks and their help, and nothing of what the commands do.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from vae_tutorial.corruptions import Corruption
from vae_tutorial.data import TEST_BINARIZATION_SEED
from vae_tutorial.model import ACTIVATIONS, ARCHITECTURES
from vae_tutorial.prior import PRIORS

__all__ = ["MNIST_CLASSES", "build_parser"]

MNIST_CLASSES = 10

_SubParsers = argparse._SubParsersAction  # what add_subparsers returns (a private name)


def _number(
    cast: type[int] | type[float], expected: str, rule: str, ok: Callable[[float], bool]
) -> Callable[[str], float]:
    """An argparse ``type``: parse with ``cast``, then insist on ``ok(value)``."""

    def parse(text: str) -> float:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {value}")
        return value

    return parse


_positive_int = _number(int, "a positive integer", "a positive integer", lambda v: v >= 1)
_positive_float = _number(float, "a positive number", "positive", lambda v: v > 0)
_nonnegative_int = _number(int, "an integer >= 0", ">= 0", lambda v: v >= 0)
_nonnegative_float = _number(
    float, "a number >= 0", "a finite number >= 0", lambda v: 0 <= v < float("inf")
)
# torch seeds a generator with an unsigned 64-bit integer; Python's random with anything, numpy's
# legacy seed below 2**32: one range, checked before any work, keeps every seed usable everywhere
_seed = _number(
    int, "an integer seed", "an integer with 0 <= seed < 2**63", lambda v: 0 <= v < 2**63
)
MAX_WIDTH = 65_536  # a hidden layer or channel count: 784 x 65,536 float32 weights are 205 MB
MAX_SAMPLES = 100_000  # sample --n: a 100,000 x 784 float32 batch is 314 MB
_width = _number(
    int, "a positive integer",
    f"from 1 to {MAX_WIDTH:,} (memory: a layer of 784 x N float32 weights is N x 3.1 kB)",
    lambda v: 1 <= v <= MAX_WIDTH,
)  # fmt: skip
_sample_count = _number(int, "a positive integer", f"from 1 to {MAX_SAMPLES:,} (each sample is "
                        "784 float32 pixels; more is a grid nobody can read)",
                        lambda v: 1 <= v <= MAX_SAMPLES)  # fmt: skip


def _corruption(text: str) -> Corruption:
    """An argparse ``type`` for ``--corruption``: ``gaussian:0.5``, ``square:14``, ``half``."""
    try:
        return Corruption.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: ...)" for options that have a meaningful default, and only once."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _add_common(p: argparse.ArgumentParser) -> None:
    """The flags ``train`` and ``evaluate`` share: data root, device, seed, progress bars."""
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="folder holding MNIST/raw/*.gz (default: $VAE_TUTORIAL_DATA, else data/)",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda", "mps"],
        default="auto",
        help="where to run",
    )
    p.add_argument("--seed", type=_seed, default=0, help="random seed (0 <= seed < 2**63)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m vae_tutorial``: one subcommand each for train, evaluate, sample,
    export and judge."""
    parser = argparse.ArgumentParser(
        prog="python -m vae_tutorial",
        description="Train, evaluate and sample the VAEs of the book "
        "'Variational Autoencoders, from the ELBO up'.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{train,evaluate,sample,export,judge}"
    )
    _add_train_parser(sub)
    _add_evaluate_parser(sub)
    _add_sample_parser(sub)
    _add_export_parser(sub)
    _add_judge_parser(sub)
    return parser


def _subcommand(
    sub: _SubParsers, name: str, summary: str, description: str | None = None
) -> argparse.ArgumentParser:
    """A subcommand's parser: ``summary`` in the top-level help, each meaningful default shown
    once in its own."""
    return sub.add_parser(
        name, help=summary, description=description, formatter_class=_HelpFormatter
    )


def _add_train_parser(sub: _SubParsers) -> None:
    """``train``: where to write, then the model's, the optimizer's and the objective's flags, then
    where to start from (``--resume``, ``--init-from``) and the common ones."""
    t = _subcommand(
        sub,
        "train",
        "train a VAE on MNIST and save a checkpoint",
        description="Train a VAE on MNIST and save a checkpoint. Under `torchrun "
        "--nproc_per_node=N -m vae_tutorial train ...` the N processes train the same run with "
        "DistributedDataParallel (gloo on CPUs, nccl on CUDA GPUs), sharing each global batch.",
    )
    t.add_argument(
        "--out",
        type=Path,
        required=True,
        help="checkpoint file to write; a .json record goes beside it",
    )
    _add_model_flags(t)
    _add_optimizer_flags(t)
    _add_objective_flags(t)
    t.add_argument(
        "--collective-timeout",
        type=_positive_float,
        default=None,
        help="under torchrun: seconds a process waits for the others before the run stops with "
        "the command that resumes it (default: 120 on CPUs, 600 on GPUs)",
    )
    t.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    t.add_argument(
        "--init-from",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="start from this checkpoint's weights (same model settings) with a fresh optimizer "
        "and schedule, e.g. for a second learning-rate cycle; its record's commands are kept",
    )
    _add_common(t)


def _add_model_flags(t: argparse.ArgumentParser) -> None:
    """``train``'s model: latent dimension, architecture, hidden sizes, activation, conditional,
    prior."""
    t.add_argument("--latent-dim", type=_width, default=20, help="dimension of z")
    t.add_argument(
        "--architecture",
        choices=list(ARCHITECTURES),
        default="mlp",
        help="mlp: fully connected layers; conv: stride-2 convolutions and transposed "
        "convolutions (28 -> 14 -> 7 and back)",
    )
    t.add_argument(
        "--hidden-dims",
        type=_width,
        nargs="+",
        default=None,
        help="encoder hidden sizes, the decoder mirrors them (default: 400); with "
        "--architecture conv, the channels of the stride-2 stages (default: 32 64)",
    )
    t.add_argument(
        "--residual-blocks",
        type=_nonnegative_int,
        default=0,
        help="with --architecture conv: residual blocks (two 3x3 convolutions and a skip) after "
        "each stage of the encoder and the decoder",
    )
    t.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), default="relu", help="hidden nonlinearity"
    )
    t.add_argument(
        "--conditional",
        action="store_true",
        help=f"a conditional VAE (Sohn et al. 2015): q(z|x,y), p(x|z,y) with the one-hot digit "
        f"label y ({MNIST_CLASSES} classes) concatenated to the encoder's and decoder's inputs",
    )
    t.add_argument(
        "--prior",
        choices=list(PRIORS),
        default="normal",
        help="p(z): normal, N(0, I); mixture, sum_k pi_k N(mu_k, diag sigma_k^2) with pi, mu and "
        "sigma learned (K = --prior-components)",
    )
    t.add_argument(
        "--prior-components",
        type=_positive_int,
        default=None,
        metavar="K",
        help="with --prior mixture: K, the number of Gaussian components",
    )


def _add_optimizer_flags(t: argparse.ArgumentParser) -> None:
    """``train``'s optimization: epochs, batch size, learning rate and schedule, binarization."""
    t.add_argument(
        "--epochs", type=_positive_int, default=10, help="total epochs (with --resume: the total)"
    )
    t.add_argument(
        "--batch-size",
        type=_positive_int,
        default=128,
        help="examples per step: the global batch, shared by the processes under torchrun",
    )
    t.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate")
    t.add_argument(
        "--lr-schedule",
        choices=["constant", "cosine"],
        default="constant",
        help="learning-rate schedule",
    )
    t.add_argument(
        "--binarize",
        choices=["dynamic", "static", "none"],
        default="dynamic",
        help="pixel binarization",
    )


def _add_objective_flags(t: argparse.ArgumentParser) -> None:
    """``train``'s objective: β, KL warm-up, free bits, importance samples, and the corruptions of
    a denoising VAE."""
    t.add_argument(
        "--beta",
        type=_nonnegative_float,
        default=1.0,
        help="KL weight β: minimize rec + β·KL (1: the negative ELBO; Higgins et al. 2017: β > 1)",
    )
    t.add_argument(
        "--kl-warmup-epochs",
        type=_nonnegative_int,
        default=0,
        metavar="E",
        help="KL warm-up (Bowman et al. 2016): weight w = β·min(1, t/T) at step t, T the steps "
        "of E epochs (0: w = β throughout)",
    )
    t.add_argument(
        "--free-bits",
        type=_nonnegative_float,
        default=0.0,
        metavar="NATS",
        help="free bits λ: KL term sum_j max(λ, KL_j), KL_j the batch-mean KL of latent "
        "dimension j (Kingma et al. 2016; 0: the plain KL)",
    )
    t.add_argument(
        "--importance-samples",
        type=_positive_int,
        default=1,
        metavar="K",
        help="K > 1: minimize -L_K, the importance-weighted bound with K draws of z per digit "
        "(Burda et al. 2016), instead of the negative ELBO; each step decodes K times as many "
        "rows (1: the ELBO)",
    )
    t.add_argument(
        "--corruption",
        type=_corruption,
        nargs="+",
        default=[],
        metavar="KIND[:LEVEL]",
        help="train a denoising VAE (Im et al. 2017): the encoder reads each training digit "
        "corrupted by one of these, drawn afresh per batch, and the likelihood scores the clean "
        "digit. KIND: gaussian:SIGMA, salt_pepper:P, square:SIDE or half",
    )


def _add_evaluate_parser(sub: _SubParsers) -> None:
    """``evaluate``: the checkpoint, the bounds' sample sizes, the test digits, the record."""
    e = _subcommand(sub, "evaluate", "importance-weighted log-likelihood on the test set")
    e.add_argument("checkpoint", type=Path, help="checkpoint to evaluate")
    e.add_argument(
        "--k",
        type=_positive_int,
        nargs="+",
        default=[1, 10, 100, 1000, 5000],
        help="samples per bound",
    )
    e.add_argument(
        "--n-test",
        type=_positive_int,
        default=None,
        help="evaluate the first N test digits (default: all)",
    )
    e.add_argument("--batch-size", type=_positive_int, default=100, help="test digits per batch")
    e.add_argument(
        "--binarization-seed",
        type=_seed,
        default=TEST_BINARIZATION_SEED,
        help="seed of the one fixed Bernoulli draw of the test digits; any value other than the "
        "default, or a --seed other than 0, is recorded as a repeat, beside the main evaluation",
    )
    e.add_argument(
        "--no-record", action="store_true", help="don't write the results into the .json beside it"
    )
    e.add_argument(
        "--replace",
        action="store_true",
        help="replace the record's evaluation even with a less thorough one (fewer test digits, "
        "or not every k it has); never one on full MNIST with one on the offline fallback",
    )
    _add_common(e)


def _add_sample_parser(sub: _SubParsers) -> None:
    """``sample``: the checkpoint, how many samples, the PNG, the seed, means or draws."""
    s = _subcommand(sub, "sample", "decode samples from the prior into a PNG grid")
    s.add_argument("checkpoint", type=Path, help="checkpoint to sample from")
    s.add_argument("--n", type=_sample_count, default=64, help="number of samples")
    s.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG file to write")
    s.add_argument("--seed", type=_seed, default=0, help="random seed (0 <= seed < 2**63)")
    s.add_argument(
        "--draws",
        action="store_true",
        help="save binary draws x ~ p(x|z) instead of the decoder means E[x|z] (probabilities)",
    )


def _add_export_parser(sub: _SubParsers) -> None:
    """``export``: the training checkpoint and the model-only one to write."""
    x = _subcommand(sub, "export", "copy a checkpoint without its optimizer state (for sharing)")
    x.add_argument("checkpoint", type=Path, help="training checkpoint")
    x.add_argument("out", type=Path, help="model-only checkpoint to write")


def _add_judge_parser(sub: _SubParsers) -> None:
    """``judge``: train the digit classifier the chapters use as a judge of decoded images."""
    j = _subcommand(sub, "judge", "train the digit classifier that judges decoded images")
    j.add_argument("--out", type=Path, required=True, help="classifier file to write (.pt)")
    j.add_argument("--epochs", type=_positive_int, default=3, help="passes over the training set")
    _add_common(j)
