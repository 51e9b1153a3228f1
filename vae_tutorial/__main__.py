"""Command line: ``python -m vae_tutorial {train,evaluate,sample,export} --help``."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vae_tutorial import device as pick_device
from vae_tutorial import distributed, seed_everything
from vae_tutorial.corruptions import Corruption
from vae_tutorial.data import TEST_BINARIZATION_SEED, DataError, load_mnist
from vae_tutorial.model import (
    ACTIVATIONS,
    ARCHITECTURES,
    VAE,
    ConditionalVAE,
    VAEConfig,
    build_model,
)
from vae_tutorial.objective import Objective
from vae_tutorial.records import read_record, training_totals, write_record
from vae_tutorial.train import (
    CheckpointError,
    TrainConfig,
    TrainingDiverged,
    load_checkpoint,
    load_model,
    train,
)


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


def _corruption(text: str) -> Corruption:
    """An argparse ``type`` for ``--corruption``: ``gaussian:0.5``, ``square:14``, ``half``."""
    try:
        return Corruption.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


MNIST_CLASSES = 10


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: ...)" for options that have a meaningful default, and only once."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def _add_common(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vae_tutorial",
        description="Train, evaluate and sample the VAEs of the book "
        "'Variational Autoencoders, from the ELBO up'.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{train,evaluate,sample,export}"
    )
    fmt = _HelpFormatter

    t = sub.add_parser(
        "train",
        help="train a VAE on MNIST and save a checkpoint",
        description="Train a VAE on MNIST and save a checkpoint. Under `torchrun "
        "--nproc_per_node=N -m vae_tutorial train ...` the N processes train the same run with "
        "DistributedDataParallel (gloo on CPUs, nccl on CUDA GPUs), sharing each global batch.",
        formatter_class=fmt,
    )
    t.add_argument(
        "--out",
        type=Path,
        required=True,
        help="checkpoint file to write; a .json record goes beside it",
    )
    t.add_argument("--latent-dim", type=_positive_int, default=20, help="dimension of z")
    t.add_argument(
        "--architecture",
        choices=list(ARCHITECTURES),
        default="mlp",
        help="mlp: fully connected layers; conv: stride-2 convolutions and transposed "
        "convolutions (28 -> 14 -> 7 and back)",
    )
    t.add_argument(
        "--hidden-dims",
        type=_positive_int,
        nargs="+",
        default=None,
        help="encoder hidden sizes, the decoder mirrors them (default: 400); with "
        "--architecture conv, the channels of the stride-2 stages (default: 32 64)",
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
        "--corruption",
        type=_corruption,
        nargs="+",
        default=[],
        metavar="KIND[:LEVEL]",
        help="train a denoising VAE (Im et al. 2017): the encoder reads each training digit "
        "corrupted by one of these, drawn afresh per batch, and the likelihood scores the clean "
        "digit. KIND: gaussian:SIGMA, salt_pepper:P, square:SIDE or half",
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

    e = sub.add_parser(
        "evaluate", help="importance-weighted log-likelihood on the test set", formatter_class=fmt
    )
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
        type=int,
        default=TEST_BINARIZATION_SEED,
        help="seed of the one fixed Bernoulli draw of the test digits; any value other than the "
        "default, or a --seed other than 0, is recorded as a repeat, beside the main evaluation",
    )
    e.add_argument(
        "--no-record", action="store_true", help="don't write the results into the .json beside it"
    )
    _add_common(e)

    s = sub.add_parser(
        "sample", help="decode samples from the prior into a PNG grid", formatter_class=fmt
    )
    s.add_argument("checkpoint", type=Path, help="checkpoint to sample from")
    s.add_argument("--n", type=_positive_int, default=64, help="number of samples")
    s.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG file to write")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument(
        "--draws",
        action="store_true",
        help="save binary draws x ~ p(x|z) instead of the decoder means E[x|z] (probabilities)",
    )

    x = sub.add_parser(
        "export",
        help="copy a checkpoint without its optimizer state (for sharing)",
        formatter_class=fmt,
    )
    x.add_argument("checkpoint", type=Path, help="training checkpoint")
    x.add_argument("out", type=Path, help="model-only checkpoint to write")
    return parser


def _check_writable(parser: argparse.ArgumentParser, flag: str, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".write-test-"):
            pass
    except OSError as err:
        parser.error(
            f"cannot write {flag} {path}: {err.strerror or err}. Choose a writable location."
        )
    if path.is_dir():
        parser.error(f"{flag} {path} is a directory; give a file name such as {path / 'model.pt'}.")


def _device(name: str) -> torch.device:
    if name == "auto":
        return pick_device()
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "error: --device cuda, but PyTorch sees no CUDA GPU here. Use --device auto or cpu."
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise SystemExit(
            "error: --device mps, but MPS is not available here. Use --device auto or cpu."
        )
    print(f"Using device: {name}")
    return torch.device(name)


def _load_data(parser: argparse.ArgumentParser, root: Path | None):
    if root is not None and not root.is_dir():
        parser.error(
            f"--data-root {root} does not exist or is not a folder. Point it at the folder "
            "that holds "
            "MNIST/raw/*.gz, or leave it out to use $VAE_TUTORIAL_DATA / the default."
        )
    return load_mnist(root)


def _command() -> str:
    return shlex.join(["python", "-m", "vae_tutorial", *sys.argv[1:]])


def _initialize(parser: argparse.ArgumentParser, model: VAE, checkpoint: Path) -> dict[str, Any]:
    """Load ``checkpoint``'s weights into ``model``; return the start of the new run's record.

    ``initialized_from`` counts the epochs and minutes of every cycle before this one, so a chain
    of ``--init-from`` runs adds up: this run's own plus ``initialized_from``'s are the total.
    """
    try:
        model.load_state_dict(load_model(checkpoint, config=model.config).state_dict())
    except CheckpointError as err:
        parser.error(f"--init-from: {err}")
    earlier = read_record(checkpoint)
    epochs, minutes = training_totals(earlier)
    return {
        "commands": earlier.get("commands", []),
        "initialized_from": {
            "checkpoint": str(checkpoint),
            "epochs": epochs,
            "minutes": round(minutes, 2),
            "final": earlier.get("final"),
        },
    }


def cmd_train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``train``, in one process or in each of the processes torchrun started (then with
    DistributedDataParallel; process 0 alone prints, writes the checkpoint and its record)."""
    launched = distributed.environment()  # torchrun's WORLD_SIZE processes, or this one alone
    try:
        launched.check_batch_size(args.batch_size)
    except ValueError as err:
        parser.error(str(err))
    printing = launched.is_main  # process 0 alone prints: the others would repeat its lines
    with contextlib.nullcontext() if printing else contextlib.redirect_stdout(io.StringIO()):
        try:
            _train(parser, args)
        finally:
            distributed.stop()


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    _check_writable(parser, "--out", args.out)
    if args.resume and not args.out.is_file():
        parser.error(
            f"--resume: there is no checkpoint at {args.out} to resume. "
            "Leave out --resume to start a new run."
        )
    if not args.resume and args.out.exists():
        parser.error(
            f"--out {args.out} exists. Add --resume to continue it, or choose another --out."
        )
    if args.hidden_dims is None:
        args.hidden_dims = [32, 64] if args.architecture == "conv" else [400]
    try:
        model_config = VAEConfig(
            latent_dim=args.latent_dim,
            hidden_dims=tuple(args.hidden_dims),
            activation=args.activation,
            architecture=args.architecture,
            n_classes=MNIST_CLASSES if args.conditional else 0,
        )
    except ValueError as err:
        parser.error(f"--hidden-dims {' '.join(map(str, args.hidden_dims))}: {err}")
    try:
        train_config = TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            lr_schedule=args.lr_schedule,
            binarize=args.binarize,
            seed=args.seed,
            objective=Objective(
                beta=args.beta, kl_warmup_epochs=args.kl_warmup_epochs, free_bits=args.free_bits
            ),
            corruption=tuple(args.corruption),
        )
    except ValueError as err:
        parser.error(str(err))
    data = _load_data(parser, args.data_root)
    try:  # join torchrun's process group, if it started this process
        world, device = distributed.start(_device(args.device))
        world.check_batch_size(args.batch_size, len(data.train_images))
    except ValueError as err:  # a device DDP cannot use, or a batch the processes cannot share
        parser.error(str(err))
    seed_everything(args.seed)  # the same seed in every process: they draw the same batches
    model = build_model(model_config).to(device)
    if args.resume:  # the run's own record; its --init-from, if any, was applied at its start
        record = read_record(args.out)
    elif args.init_from is not None:
        record = _initialize(parser, model, args.init_from)
    else:
        record = {}
    objective = train_config.objective
    print(
        f"Training a {model_config.describe()} "
        f"({sum(p.numel() for p in model.parameters()):,} parameters)"
        + ("" if objective.is_elbo else f", minimizing {objective.describe()}")
    )
    start = time.perf_counter()
    try:
        history = train(
            model,
            data,
            train_config,
            checkpoint=args.out,
            resume=args.resume,
            progress=not args.no_progress,
        )
    except KeyboardInterrupt:
        again = _command() if args.resume else f"{_command()} --resume"
        raise SystemExit(
            f"\nInterrupted. The checkpoint of the last finished epoch is safe in {args.out}; "
            f"continue with: {again}"
        ) from None
    finally:
        minutes = record.get("minutes", 0.0) + (time.perf_counter() - start) / 60
    commands = [*record.get("commands", []), _command()]
    record.update(
        {
            "commands": commands,
            "model": model_config.to_dict(),
            "training": asdict(train_config),
            "data": data.describe(),
            "device": device.type,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "epochs": history.epochs,
            "minutes": round(minutes, 2),
            "final": {
                name: round(values[-1], 3) for name, values in history.to_dict().items() if values
            },
            "history": {
                name: [round(v, 3) for v in values] for name, values in history.to_dict().items()
            },
        }
    )
    if world.size > 1:  # which commands ran on several processes, and how
        record.setdefault("distributed", []).append(
            {
                "command": _command(),
                "world_size": world.size,
                "backend": world.backend,
                "batch_size": train_config.batch_size,
                "batch_size_is_global": True,
                "batch_size_per_process": train_config.batch_size // world.size,
                "threads_per_process": torch.get_num_threads(),
            }
        )
    if not world.is_main:
        return
    written = write_record(args.out, record)
    print(f"Saved {args.out} and {written} ({minutes:.1f} min)")


def cmd_evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from vae_tutorial.evaluate import active_units, kl_per_dimension, log_likelihood

    device = _device(args.device)
    model = load_model(args.checkpoint, device=device)
    data = _load_data(parser, args.data_root)
    images = data.test_images[: args.n_test] if args.n_test else data.test_images
    labels = None
    if isinstance(model, ConditionalVAE):  # its bound is on log p(x | y), with the true labels
        if not data.has_labels:
            raise SystemExit(
                f"error: {args.checkpoint} holds a {model.config.describe()}, whose bound is on "
                f"log p(x | y); the data ({data.describe()}) has no labels."
            )
        labels = data.test_labels[: len(images)]
    bound = "log p(x|y)" if labels is not None else "log p(x)"
    shown = "-log p(x|y)" if labels is not None else "NLL"
    print(
        f"Evaluating {model.config.describe()} on {len(images):,} test digits ({data.describe()})"
        + (": the bound is on log p(x | y), with the true labels" if labels is not None else "")
    )
    results = {}
    for k in args.k:
        start = time.perf_counter()
        values = log_likelihood(
            model,
            images,
            k,
            batch_size=args.batch_size,
            seed=args.seed,
            binarization_seed=args.binarization_seed,
            progress=not args.no_progress,
            labels=labels,
        )
        seconds = time.perf_counter() - start
        nll, se = -values.mean().item(), values.std().item() / len(values) ** 0.5
        results[str(k)] = {
            "nll": round(nll, 3),
            "standard_error": round(se, 3),
            "seconds": round(seconds, 1),
        }
        print(f"k = {k:>5}: test {shown} {nll:8.3f} ± {se:.3f} nats  ({seconds:.0f} s)")
    count, _ = active_units(model, images, labels=labels)
    kl = kl_per_dimension(model, images, labels=labels)
    print(f"active units: {count} of {model.config.latent_dim}; total KL {kl.sum():.2f} nats")
    if not args.no_record:
        record = read_record(args.checkpoint)
        evaluation = {
            "command": _command(),
            "test_digits": len(images),
            "data": data.describe(),
            "device": device.type,
            "threads": torch.get_num_threads(),
            "seed": args.seed,
            "binarization_seed": args.binarization_seed,
            "bound": bound,
            "iwae": results,
            "active_units": count,
            "kl_per_dimension": [round(v, 4) for v in kl.tolist()],
        }
        if args.seed == 0 and args.binarization_seed == TEST_BINARIZATION_SEED:
            record["evaluation"] = evaluation  # the book's standard evaluation
        else:  # the same evaluation with other random draws: how much the number moves
            repeats = record.setdefault("evaluation_repeats", [])
            repeats[:] = [r for r in repeats if (r["seed"], r["binarization_seed"]) != (
                args.seed, args.binarization_seed)] + [evaluation]  # fmt: skip
        print(f"Recorded in {write_record(args.checkpoint, record)}")


def cmd_sample(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from torchvision.utils import save_image

    _check_writable(parser, "--out", args.out)
    model = load_model(args.checkpoint)
    generator = torch.Generator().manual_seed(args.seed)
    images = (model.sample if args.draws else model.sample_means)(args.n, generator=generator)
    nrow = max(1, int(args.n**0.5))
    save_image(1 - images.reshape(-1, 1, 28, 28), args.out, nrow=nrow, padding=2, pad_value=0.8)
    what = "binary draws x ~ p(x|z)" if args.draws else "decoder means E[x|z], pixel probabilities"
    if isinstance(model, ConditionalVAE):
        what += f"; labels 0-{model.config.n_classes - 1} in turn"
    print(f"Saved {args.n} samples from the prior ({what}; ink dark) to {args.out}")


def cmd_export(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from vae_tutorial.train import save_checkpoint

    _check_writable(parser, "out", args.out)
    state = load_checkpoint(args.checkpoint)
    slim = {
        key: state[key]
        for key in ("model_config", "train_config", "data_source", "model", "history")
    }
    save_checkpoint(args.out, {**slim, "extra": state.get("extra", {})})
    record = read_record(args.checkpoint)
    record["exported"] = {"command": _command(), "from": str(args.checkpoint)}
    write_record(args.out, record)
    size = args.out.stat().st_size / 1e6
    print(f"Wrote {args.out} ({size:.1f} MB, without optimizer state) and its .json")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "sample": cmd_sample,
        "export": cmd_export,
    }
    try:
        commands[args.command](parser, args)
    except (DataError, CheckpointError, TrainingDiverged) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
