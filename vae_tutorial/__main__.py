"""Command line: ``python -m vae_tutorial {train,evaluate,sample,export,judge} --help``."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vae_tutorial import device as pick_device
from vae_tutorial import distributed, seed_everything
from vae_tutorial.allocator import keep_freed_memory
from vae_tutorial.cli_flags import MNIST_CLASSES, build_parser
from vae_tutorial.data import TEST_BINARIZATION_SEED, DataError, ImageData, load_mnist
from vae_tutorial.model import VAE, ConditionalVAE, VAEConfig
from vae_tutorial.objective import Objective
from vae_tutorial.records import (
    RecordError,
    check_record_writable,
    read_record,
    record_path,
    training_totals,
    write_record,
)
from vae_tutorial.train import (
    CheckpointError,
    History,
    TrainConfig,
    TrainingDiverged,
    load_checkpoint,
    load_model,
    train,
)
from vae_tutorial.variants import build_model

__all__ = ["MNIST_CLASSES", "build_parser", "main"]


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


def _command(drop: str | None = None) -> str:
    """This process's command line, as ``python -m vae_tutorial ...``, without the flag ``drop``."""
    return shlex.join(["python", "-m", "vae_tutorial", *(a for a in sys.argv[1:] if a != drop)])


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
    commands = list(earlier.get("commands", []))
    if "exported" in earlier:  # an exported file: the chain needs its export to make it again
        commands.append(earlier["exported"]["command"])
    return {
        "commands": commands,
        "initialized_from": {
            "checkpoint": str(checkpoint),
            "epochs": epochs,
            "minutes": round(minutes, 2),
            "final": earlier.get("final"),
            "chosen_on": earlier.get("chosen_on", "test (from before the validation split)"),
        },
    }


def cmd_train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``train``, in one process or in each of the processes torchrun started (then with
    DistributedDataParallel; process 0 alone prints, writes the checkpoint and its record)."""
    launched = distributed.environment()  # torchrun's WORLD_SIZE processes, or this one alone
    keep_freed_memory()  # each step reuses the last step's pages (benchmarks/allocator.py)
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
    """The ``train`` command, step by step: check the flags, join the processes, build the model,
    train it, and write the record beside the checkpoint."""
    _check_out(parser, args)
    model_config = _model_config(parser, args)
    _check_model_size(parser, model_config)
    train_config = _train_config(parser, args)
    data = _load_data(parser, args.data_root)
    world, device = _join(parser, args, data)
    seed_everything(args.seed)  # the same seed in every process: they draw the same batches
    model = build_model(model_config).to(device)
    record = _record_so_far(parser, args, model)
    interrupted_first = args.resume and "epochs" not in record  # its first command wrote none
    objective = train_config.objective
    print(
        f"Training a {model_config.describe()} "
        f"({sum(p.numel() for p in model.parameters()):,} parameters)"
        + ("" if objective.is_elbo else f", minimizing {objective.describe()}")
    )
    history, minutes = _fit(args, model, data, train_config, record.get("minutes", 0.0))
    command = _command()
    if interrupted_first:  # its minutes are the epochs' own, and the command runs it in one go
        minutes, command = sum(history.seconds) / 60, _command(drop="--resume")
    record.update(
        _training_record(
            [*record.get("commands", []), command],
            model_config,
            train_config,
            data,
            device,
            history,
            minutes,
        )
    )
    if world.size > 1:  # which commands ran on several processes, and how
        record.setdefault("distributed", []).append(_distributed_run(world, train_config))
    if not world.is_main:
        return
    written = write_record(args.out, record)
    print(f"Saved {args.out} and {written} ({minutes:.1f} min)")


def _check_out(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Insist that ``--out`` is writable and holds a checkpoint exactly when ``--resume`` is on."""
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
    if args.resume:
        _check_resumable_out(parser, args)


def _check_resumable_out(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--resume`` needs a training checkpoint (with its optimizer state) that has fewer epochs
    than ``--epochs``: otherwise nothing would train, and the record would still change. (A run
    that finished its epochs but was stopped before writing its record may resume to write it.)"""
    state = load_checkpoint(args.out)
    if "optimizer" not in state:
        parser.error(
            f"--resume: {args.out} is an exported checkpoint (weights only, no optimizer state), "
            f"so its run cannot continue exactly. Start a new run from its weights with "
            f"--init-from {args.out} --out NEW.pt, or resume the training checkpoint it was "
            "exported from (its .json names it under 'exported')."
        )
    done = len(state.get("history", {}).get("train_loss", []))
    recorded = read_record(args.out).get("epochs")  # a run killed before its record: not yet
    if args.epochs < done or (args.epochs == done and recorded == done):
        parser.error(
            f"--epochs {args.epochs}: {args.out} has already trained {done} epoch"
            f"{'s' if done != 1 else ''}, so there is nothing to resume; nothing was written. "
            f"--epochs is the total: pass more than {done} to train further."
        )


def _model_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> VAEConfig:
    """The model the flags describe; fills in the architecture's default ``--hidden-dims``."""
    if args.hidden_dims is None:
        args.hidden_dims = [32, 64] if args.architecture == "conv" else [400]
    components = _prior_components(parser, args)
    try:
        return VAEConfig(
            latent_dim=args.latent_dim,
            hidden_dims=tuple(args.hidden_dims),
            activation=args.activation,
            architecture=args.architecture,
            n_classes=MNIST_CLASSES if args.conditional else 0,
            residual_blocks=args.residual_blocks,
            prior=args.prior,
            prior_components=components,
        )
    except ValueError as err:
        flags = f"--hidden-dims {' '.join(map(str, args.hidden_dims))}"
        if args.residual_blocks:
            flags += f" --residual-blocks {args.residual_blocks}"
        parser.error(f"{flags}: {err}")


def _prior_components(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """``--prior-components``: K with ``--prior mixture`` (required), nothing with the normal
    prior, which has no components; 0 stands for "none" in ``VAEConfig``."""
    if args.prior == "normal":
        if args.prior_components is not None:
            parser.error(
                f"--prior-components {args.prior_components}: the normal prior N(0, I) has no "
                "components. Add --prior mixture for a learned mixture, or leave the flag out."
            )
        return 0
    if args.prior_components is None:
        parser.error(
            f"--prior {args.prior} needs --prior-components K, the number of Gaussian "
            "components (e.g. --prior-components 10)."
        )
    return args.prior_components


def _check_model_size(parser: argparse.ArgumentParser, config: VAEConfig) -> None:
    """Refuse a model whose training state cannot fit in this machine's memory: float32 weights,
    their gradients and Adam's two moments, 16 bytes a parameter (counted on the meta device,
    where nothing is allocated)."""
    with torch.device("meta"):
        n = sum(p.numel() for p in build_model(config).parameters())
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no limit known
        return
    if 16 * n > memory:
        parser.error(
            f"{config.describe()} has {n:,} parameters: its weights, gradients and Adam's state "
            f"need {16 * n / 1e9:.1f} GB, and this machine has {memory / 1e9:.1f} GB. Choose "
            "smaller --hidden-dims or --latent-dim."
        )


def _train_config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TrainConfig:
    """The training the flags describe: optimizer, schedule, binarization, objective, corruption."""
    try:
        return TrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.lr,
            lr_schedule=args.lr_schedule,
            binarize=args.binarize,
            seed=args.seed,
            objective=Objective(
                beta=args.beta,
                kl_warmup_epochs=args.kl_warmup_epochs,
                free_bits=args.free_bits,
                importance_samples=args.importance_samples,
            ),
            corruption=tuple(args.corruption),
        )
    except ValueError as err:
        parser.error(str(err))


def _join(
    parser: argparse.ArgumentParser, args: argparse.Namespace, data: ImageData
) -> tuple[distributed.World, torch.device]:
    """Join torchrun's process group, if it started this process: the world and this process's
    device. A device DDP cannot use, or a batch the processes cannot share, is a usage error.
    A collective that waits longer than ``--collective-timeout`` (by default 120 s on CPUs, 600 s
    on GPUs) ends the run with the command that resumes it (:func:`_fit`)."""
    device = _device(args.device)
    timeout = args.collective_timeout or (600 if device.type == "cuda" else 120)
    try:
        world, chosen = distributed.start(device, timeout_s=timeout)
        world.check_batch_size(args.batch_size, len(data.train_images))
    except ValueError as err:
        parser.error(str(err))
    args.collective_timeout = timeout
    return world, chosen


def _record_so_far(
    parser: argparse.ArgumentParser, args: argparse.Namespace, model: VAE
) -> dict[str, Any]:
    """The record this run continues: its own with ``--resume`` (its ``--init-from``, if any, was
    applied at its start); with ``--init-from``, the start :func:`_initialize` makes (loading
    those weights into ``model``); else an empty one. A run whose first command was interrupted
    wrote no record: resuming it starts the record again from ``--init-from``, as that command
    did (the weights loaded are then replaced by the checkpoint's)."""
    if args.resume and (record := read_record(args.out)):
        return record
    if args.init_from is not None:
        return _initialize(parser, model, args.init_from)
    return {}


def _fit(
    args: argparse.Namespace,
    model: VAE,
    data: ImageData,
    train_config: TrainConfig,
    earlier_minutes: float,
) -> tuple[History, float]:
    """Train into ``--out``: the history, and the minutes of the run so far (``earlier_minutes``
    plus this call's). On Ctrl-C, exit with the command that continues the run."""
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
    except RuntimeError as err:  # under torchrun: another process stopped answering
        if distributed.current().size == 1 or not _timed_out(err):
            raise
        again = _command() if args.resume else f"{_command()} --resume"
        raise SystemExit(
            f"error: another training process did not answer for {args.collective_timeout:g} s "
            f"(--collective-timeout): it hung or was killed. The checkpoint of the last finished "
            f"epoch is safe in {args.out}; start the processes again with torchrun and: {again}"
        ) from None
    return history, earlier_minutes + (time.perf_counter() - start) / 60


def _timed_out(err: BaseException) -> bool:
    """Whether ``err`` is a collective's timeout (gloo and nccl word it differently)."""
    text = str(err).lower()
    return "timed out" in text or "timeout" in text or type(err).__name__ == "DistBackendError"


def _training_record(
    commands: list[str],
    model_config: VAEConfig,
    train_config: TrainConfig,
    data: ImageData,
    device: torch.device,
    history: History,
    minutes: float,
) -> dict[str, Any]:
    """What a training run writes into its record: the commands so far, this one last, the
    settings, the data, which split its decisions could see, where and with what it ran, and the
    rounded history."""
    return {
        "commands": commands,
        "model": model_config.to_dict(),
        "training": asdict(train_config),
        "data": data.describe(),
        "chosen_on": CHOSEN_ON_VALIDATION,
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


CHOSEN_ON_VALIDATION = (
    "validation: the history logs the negative ELBO on the validation split (a fixed sixth of "
    "the training digits, held out) after every epoch; the test set is not looked at in training"
)
"""A new record's ``chosen_on``: the split any decision about the run (its epochs, its stopping,
a continuation) could be made on."""


def _test_set(description: str) -> str:
    """The test set a data description names (``"full MNIST, 10,000 test"``): the same before and
    after the validation split, which only changed the training digits."""
    name = description.split(":")[0]
    count = re.search(r"([\d,]+) test", description)
    return f"{name}, {count[1] if count else '?'} test"


def _distributed_run(world: distributed.World, train_config: TrainConfig) -> dict[str, Any]:
    """The record's entry for a command that trained on several processes: how they shared it."""
    return {
        "command": _command(),
        "world_size": world.size,
        "backend": world.backend,
        "batch_size": train_config.batch_size,
        "batch_size_is_global": True,
        "batch_size_per_process": train_config.batch_size // world.size,
        "threads_per_process": torch.get_num_threads(),
    }


def cmd_evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``evaluate``, step by step. Everything that could refuse the results (the record, its
    folder, a less thorough evaluation than the one recorded) is checked before the work."""
    device = _device(args.device)
    model = load_model(args.checkpoint, device=device)
    record = None if args.no_record else _record_for_evaluation(args.checkpoint)
    data = _load_data(parser, args.data_root)
    images, labels = _test_digits(args, model, data)
    if record is not None:
        _check_not_lesser(parser, args, record, data, len(images))
    evaluation = _evaluation(args, model, images, labels, data, device)
    if record is None:
        return
    if _standard(args):
        record["evaluation"] = evaluation  # the book's standard evaluation
    else:  # the same evaluation with other random draws: how much the number moves
        repeats = record.setdefault("evaluation_repeats", [])
        repeats[:] = [r for r in repeats if _draws(r) != _draws(evaluation)] + [evaluation]
    print(f"Recorded in {write_record(args.checkpoint, record)}")


def _record_for_evaluation(checkpoint: Path) -> dict[str, Any]:
    """The record ``evaluate`` will add to, read and checked writable before any work."""
    record = read_record(checkpoint)
    check_record_writable(checkpoint)
    return record


def _test_digits(
    args: argparse.Namespace, model: VAE, data: ImageData
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The test digits to score, and their labels for a conditional VAE (its bound is on
    log p(x | y))."""
    images = data.test_images[: args.n_test] if args.n_test else data.test_images
    if not isinstance(model, ConditionalVAE):
        return images, None
    if not data.has_labels:
        raise SystemExit(
            f"error: {args.checkpoint} holds a {model.config.describe()}, whose bound is on "
            f"log p(x | y); the data ({data.describe()}) has no labels."
        )
    return images, data.test_labels[: len(images)]


def _draws(evaluation: dict[str, Any]) -> tuple[Any, Any]:
    return evaluation.get("seed"), evaluation.get("binarization_seed")


def _standard(args: argparse.Namespace) -> bool:
    """The book's standard evaluation (seed 0, the test binarization): the record's
    ``evaluation``; any other draws are a repeat."""
    return args.seed == 0 and args.binarization_seed == TEST_BINARIZATION_SEED


def _check_not_lesser(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    record: dict[str, Any],
    data: ImageData,
    n_digits: int,
) -> None:
    """Refuse, before any work, to replace a recorded evaluation with a less thorough one: on
    other data (never full MNIST by the fallback), on fewer digits, or without one of its k."""
    standard = _standard(args)
    if standard:
        old = record.get("evaluation")
    else:
        wanted = (args.seed, args.binarization_seed)
        old = next((r for r in record.get("evaluation_repeats", []) if _draws(r) == wanted), None)
    if not isinstance(old, dict):
        return
    old_ks = sorted(int(k) for k in old.get("iwae", {}))
    old_data, old_n = str(old.get("data")), old.get("test_digits", 0)
    same_test_set = _test_set(old_data) == _test_set(data.describe())
    where = f"{record_path(args.checkpoint)} ({'evaluation' if standard else 'a repeat'})"
    if not same_test_set and old_data.startswith("full MNIST"):
        parser.error(
            f"{where} was measured on {old_data}; this run would use {data.describe()}, whose "
            "numbers are not comparable. Nothing was run or written. Point VAE_TUTORIAL_DATA or "
            "--data-root at full MNIST, or pass --no-record to print the results only."
        )
    lesser = []
    if not same_test_set:
        lesser.append(f"other data ({data.describe()} instead of {old_data})")
    if n_digits < old_n:
        lesser.append(f"{n_digits:,} test digits instead of {old_n:,}")
    if missing := [k for k in old_ks if k not in args.k]:
        lesser.append(f"no bound at k = {', '.join(map(str, missing))}")
    if lesser and not args.replace:
        parser.error(
            f"{where} holds an evaluation on {old_n:,} digits at k = "
            f"{', '.join(map(str, old_ks))}; this one would be less thorough: "
            f"{'; '.join(lesser)}. Nothing was run or written. Pass --no-record to print the "
            "results only, or --replace to overwrite the recorded evaluation."
        )


def _evaluation(
    args: argparse.Namespace,
    model: VAE,
    images: torch.Tensor,
    labels: torch.Tensor | None,
    data: ImageData,
    device: torch.device,
) -> dict[str, Any]:
    """Score the digits at every k, print each bound, and return the record's entry: strict JSON
    (a standard error or an active-unit count that one digit cannot give is ``None``)."""
    from vae_tutorial.evaluate import active_units, kl_per_dimension, log_likelihood

    bound = "log p(x|y)" if labels is not None else "log p(x)"
    shown = "-log p(x|y)" if labels is not None else "NLL"
    print(
        f"Evaluating {model.config.describe()} on {len(images):,} test digits ({data.describe()})"
        + (": the bound is on log p(x | y), with the true labels" if labels is not None else "")
    )
    results, per_digit = {}, {}
    for k in args.k:
        start = time.perf_counter()
        values = log_likelihood(
            model, images, k, batch_size=args.batch_size, seed=args.seed,
            binarization_seed=args.binarization_seed, progress=not args.no_progress,
            labels=labels,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        nll = -values.mean().item()
        se = values.std().item() / len(values) ** 0.5 if len(values) > 1 else None
        results[str(k)] = {
            "nll": round(nll, 3),
            "standard_error": None if se is None else round(se, 3),
            "seconds": round(seconds, 1),
        }
        per_digit[str(k)] = [round(v, 4) for v in values.tolist()]  # for paired comparisons
        error = "(one digit: no standard error)" if se is None else f"± {se:.3f} nats"
        print(f"k = {k:>5}: test {shown} {nll:8.3f} {error}  ({seconds:.0f} s)")
    count = active_units(model, images, labels=labels)[0] if len(images) > 1 else None
    kl = kl_per_dimension(model, images, labels=labels)
    d = model.config.latent_dim
    units = "not measured on one digit" if count is None else f"{count} of {d}"
    print(f"active units: {units}; total KL {kl.sum():.2f} nats")
    return {
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
        "per_digit": per_digit,  # L_k of each test digit, in order, nats
    }


def cmd_sample(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from torchvision.utils import save_image

    _check_writable(parser, "--out", args.out)
    from PIL import Image

    Image.init()
    if args.out.suffix.lower() not in Image.registered_extensions():
        parser.error(
            f"--out {args.out}: {args.out.suffix or 'no extension'} is not an image format; "
            "nothing was sampled. Give a file name ending in .png (or .jpg, .bmp)."
        )
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

    if args.out.resolve() == args.checkpoint.resolve():
        parser.error(
            f"out {args.out} is the checkpoint itself: exporting in place would drop its "
            "optimizer state, and --resume could never continue the run. Write the export "
            "elsewhere, e.g. checkpoints/NAME.pt."
        )
    _check_writable(parser, "out", args.out)
    state = load_checkpoint(args.checkpoint)
    record = read_record(args.checkpoint)  # a broken record stops here, before anything is written
    record["exported"] = {"command": _command(), "from": str(args.checkpoint)}
    check_record_writable(args.out)
    slim = {
        key: state[key]
        for key in ("model_config", "train_config", "data_source", "model", "history")
        if key in state
    }
    save_checkpoint(args.out, {**slim, "extra": state.get("extra", {})})
    write_record(args.out, record)
    size = args.out.stat().st_size / 1e6
    print(f"Wrote {args.out} ({size:.1f} MB, without optimizer state) and its .json")


def cmd_judge(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Train the digit classifier on the training digits, score it on the test digits and on
    uniform noise, and write it with its record."""
    from vae_tutorial.digit_classifier import judge_scores, save_classifier, train_digit_classifier

    _check_writable(parser, "--out", args.out)
    check_record_writable(args.out)
    data = _load_data(parser, args.data_root)
    start = time.perf_counter()
    net = train_digit_classifier(
        data.train_images, data.train_labels, epochs=args.epochs, seed=args.seed
    )
    minutes = (time.perf_counter() - start) / 60
    scores = judge_scores(net, data.test_images, data.test_labels, seed=args.seed)
    save_classifier(net, args.out)
    record = {
        "commands": [_command()],
        "model": "MLP 784-256-10, ReLU, cross-entropy, Adam 1e-3, batch 128",
        "data": data.describe(),
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "minutes": round(minutes, 2),
        "evaluation": {"test_digits": len(data.test_images), **scores},
    }
    written = write_record(args.out, record)
    print(
        f"judge: {scores['test_accuracy']:.1%} of the test digits right; sure (>= "
        f"{scores['sure_threshold']}) of {scores['noise_sure_share']:.1%} of uniform noise. "
        f"Saved {args.out} and {written} ({minutes:.1f} min)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "sample": cmd_sample,
        "export": cmd_export,
        "judge": cmd_judge,
    }
    try:
        commands[args.command](parser, args)
    except (DataError, CheckpointError, TrainingDiverged, RecordError) as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
