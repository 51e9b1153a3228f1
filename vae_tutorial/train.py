"""Training a VAE: one function for the notebooks and the CLI, with checkpoints that resume exactly.

A checkpoint holds the model, the optimizer (and learning-rate schedule), the epoch, the history and
every random-number state the run uses, so that stopping after epoch 3 and resuming gives the same
parameters as never stopping. It is written to a temporary file and moved into place with
``os.replace``, so a crash mid-write leaves the previous checkpoint intact. It contains only
tensors and plain Python values and is read with ``torch.load(weights_only=True)``: loading a
checkpoint never runs code.

The loop never learns what the model is (as in Pyro's ``SVI`` or Lightning's ``training_step``):
each batch becomes a :class:`~vae_tutorial.data.Batch` (images, and labels when the data has
them), and the model's ``loss(batch, kl_weight, free_bits, importance_samples)`` says what to
minimize. The objective's knobs (β, KL warm-up, free bits, importance samples) are
``TrainConfig.objective``.

Under ``torchrun`` the same loop trains on several processes with PyTorch's
``DistributedDataParallel`` (:mod:`vae_tutorial.distributed`): each takes its share of every
global batch, and process 0 alone logs and writes the checkpoint.
"""

from __future__ import annotations

import errno
import inspect
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from tqdm.auto import tqdm

from vae_tutorial import distributed
from vae_tutorial.corruptions import Corruption
from vae_tutorial.data import (
    VALIDATION_BINARIZATION_SEED,
    Batch,
    Batches,
    Binarize,
    ImageData,
    as_batch,
    check_image_data,
    hold_out_validation,
)
from vae_tutorial.diagnostics import diagnose
from vae_tutorial.losses import NegativeELBO
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.objective import Objective
from vae_tutorial.variants import build_model

__all__ = [
    "TrainConfig",
    "Objective",
    "History",
    "EpochLosses",
    "TrainingDiverged",
    "CheckpointError",
    "train",
    "evaluate_elbo",
    "save_checkpoint",
    "save_atomically",
    "load_checkpoint",
    "load_model",
    "save_model",
    "reference_checkpoint",
    "reference_record",
]

FORMAT = "vae_tutorial.checkpoint/1"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names the likely cause."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or belongs to a different model or run."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Every field is recorded in the checkpoint."""

    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    """``"constant"``, or ``"cosine"``: decay to 0 over all epochs' steps."""
    binarize: Binarize = "dynamic"
    seed: int = 0
    objective: Objective = field(default_factory=Objective)
    """What to minimize: the negative ELBO (the default), or with β, KL warm-up and free bits."""
    corruption: tuple[Corruption, ...] = ()
    """Corruptions of the encoder's input (a denoising VAE): each training image gets one,
    drawn afresh per batch, and the likelihood scores the clean image. Empty: a plain VAE."""

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}"
            )
        if self.binarize not in ("none", "dynamic", "static"):
            raise ValueError(
                f"binarize must be 'none', 'dynamic' or 'static', got {self.binarize!r}"
            )
        if not all(isinstance(c, Corruption) for c in self.corruption):
            raise TypeError(f"corruption must be a tuple of Corruption, got {self.corruption!r}")
        object.__setattr__(self, "corruption", tuple(self.corruption))
        if not isinstance(self.objective, Objective):
            raise TypeError(f"objective must be an Objective, got {self.objective!r}")
        if self.objective.kl_warmup_epochs > self.epochs:
            raise ValueError(
                f"kl_warmup_epochs ({self.objective.kl_warmup_epochs}) exceeds epochs "
                f"({self.epochs}): the KL weight would never reach beta"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The inverse of ``asdict``. A checkpoint from before objectives or corruptions existed
        has none: it trained a plain VAE on the negative ELBO, the default."""
        return cls(
            **{
                **d,
                "objective": Objective(**d.get("objective", {})),
                "corruption": tuple(Corruption(**c) for c in d.get("corruption", ())),
            }
        )


@dataclass
class History:
    """Per-epoch negative ELBO (nats per example) and its parts, on the training set and on the
    validation split (the digits held out of the training set to make decisions on; the test set
    is not looked at during training).

    ``*_loss`` is always the plain negative ELBO, reconstruction + KL, so runs with different
    objectives compare. ``train_objective`` is what the optimizer minimized (the same number for
    the default objective; with β, warm-up or free bits, ``rec + w * sum_j max(λ, KL_j)``; with
    k importance samples, -L_k).
    """

    train_loss: list[float] = field(default_factory=list)
    train_reconstruction: list[float] = field(default_factory=list)
    train_kl: list[float] = field(default_factory=list)
    train_objective: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    validation_reconstruction: list[float] = field(default_factory=list)
    validation_kl: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, list[float]]) -> History:
        """The inverse of ``to_dict``; a history from before ``train_objective`` existed minimized
        the negative ELBO, so its objective is its ``train_loss``.

        Raises:
            CheckpointError: the history was logged on the test set, by a version of this package
                from before the validation split.
        """
        if "test_loss" in d:
            raise CheckpointError(
                "this run logged the test set after every epoch: it comes from a version of the "
                "package from before the validation split, and cannot be continued. Start a new "
                "run from its weights with --init-from instead."
            )
        lists = {k: list(v) for k, v in d.items()}
        return cls(**{"train_objective": list(d["train_loss"]), **lists})


class EpochLosses(NamedTuple):
    """One epoch's averages per example (nats): the negative ELBO, its two parts, the objective."""

    loss: float
    reconstruction: float
    kl: float
    objective: float


@torch.no_grad()
def evaluate_elbo(
    model: VAE, batches: Batches, seed: int = 0, world: distributed.World | None = None
) -> tuple[float, float, float]:
    """Average negative ELBO, reconstruction and KL over ``batches`` (one sample of z each).

    Uses its own random stream, so evaluating never changes what training draws next. Labels,
    if ``batches`` yields them, reach the model with the images (a conditional VAE reads them).
    With a ``world`` of several processes, each evaluates its share of every batch and all get
    the averages over all of them.
    """
    world = world or distributed.World()
    was_training = model.training
    model.eval()
    totals = torch.zeros(3, dtype=torch.float64, device=next(model.parameters()).device)
    n = 0
    devices = [batches.device] if batches.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for item in batches:
            batch = as_batch(item)
            mine = world.share(batch)
            n += len(batch)
            if len(mine) == 0:  # fewer rows than processes: the last batch has none for this one
                continue
            with world.global_noise(len(batch)):
                out = model.loss(mine)
            parts = torch.stack([out.loss, out.reconstruction, out.kl])
            totals += parts.double() * len(mine)
    model.train(was_training)
    totals = world.sum(totals).cpu()
    loss, reconstruction, kl = (totals / n).tolist()
    return loss, reconstruction, kl


def _rng_state(batches: Batches) -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "batches": batches.state_dict()["generator"],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if batches.device.type == "cuda":  # the GPU's own: under DDP each process has its own GPU
        state["cuda_device"] = torch.cuda.get_rng_state(batches.device)
    return state


def _set_rng_state(state: dict[str, Any], batches: Batches) -> None:
    torch.set_rng_state(state["torch"])
    batches.load_state_dict({"generator": state["batches"]})
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "cuda_device" in state and batches.device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_device"], batches.device)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` as this package's checkpoint, atomically (:func:`save_atomically`)."""
    save_atomically({"format": FORMAT, **state}, path)


def save_atomically(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace``: a
    crash leaves the old file whole. A full disk is reported, the temporary file removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch says "unexpected pos" on a full disk
        code = getattr(err, "errno", None)
        if code != errno.ENOSPC and "unexpected pos" not in str(err):
            raise
        raise CheckpointError(
            f"no space left on the device writing {path}. The previous file there, "
            "if any, is intact. Free some space, then continue with --resume."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def save_model(model: VAE, path: str | os.PathLike[str]) -> Path:
    """Write ``model``'s configuration and weights (no optimizer state) where :func:`load_model`
    reads them: a model you trained in a notebook, kept for later chapters. Returns the path."""
    save_checkpoint(path, {"model_config": model.config.to_dict(), "model": model.state_dict()})
    return Path(path)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``), with errors that say what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"No checkpoint at {path}. Train one with `python -m vae_tutorial train --out {path}`."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated, not a torch file, or holds code objects
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(
            f"{path} is not a readable vae_tutorial checkpoint ({type(err).__name__}"
            f"{': ' + first if first and 'weights_only' not in first else ''}). It may be "
            "truncated or from another program; retrain it or restore it from its source."
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a vae_tutorial checkpoint (expected format {FORMAT!r})."
        )
    missing = [key for key in ("model_config", "model") if not isinstance(state.get(key), dict)]
    if missing:
        raise CheckpointError(
            f"{path} is damaged: it has no {' or '.join(missing)} entry a vae_tutorial checkpoint "
            "holds. Retrain it or restore it from its source."
        )
    return state


def load_model(
    path: str | os.PathLike[str],
    config: VAEConfig | None = None,
    device: torch.device | str = "cpu",
) -> VAE:
    """Build the VAE stored in a checkpoint. With ``config``, insist that it matches the file's.

    A checkpoint from before ``n_classes`` existed holds an unconditional VAE (the default)."""
    state = load_checkpoint(path)
    try:
        stored = VAEConfig(**state["model_config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(
            f"{path} holds a model configuration this package cannot build ({err}). It may come "
            "from a newer version of vae_tutorial; update the package, or retrain it."
        ) from None
    if config is not None and config != stored:
        raise CheckpointError(
            f"{path} holds a different model: the checkpoint is {stored.describe()} ({stored}), "
            f"the requested model is {config.describe()} ({config})."
        )
    model = build_model(stored)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError) as err:
        # torch lists one problem per line after a tab: count them and quote the first
        lines = str(err).split("\n\t")
        problems, first = len(lines) - 1, lines[min(1, len(lines) - 1)].strip()
        raise CheckpointError(
            f"{path}: its weights do not fit the {stored.describe()} its configuration describes "
            f"({problems or 'some'} mismatched or missing tensors, first: {first[:160]}). "
            "The file was changed or damaged; retrain it or restore it from its source."
        ) from None
    return model.to(device)


def _adam(model: VAE, lr: float) -> torch.optim.Adam:
    """Adam, fused into one kernel where this PyTorch supports it for the device (about 20% faster
    per step for a 784-400-20 VAE on a CPU), else the default implementation."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr)


def _diagnose(
    x: torch.Tensor, log_var: torch.Tensor | None, lr: float, before_any_step: bool = False
) -> str:
    """Likely causes of a NaN loss, from the likelihood's target ``x`` and the encoder's output.

    ``before_any_step``: the loss was NaN before the optimizer ever stepped, so the learning rate
    cannot be the cause; the loss formula is."""
    causes = []
    if x.min() < 0 or x.max() > 1:
        causes.append(
            f"inputs outside [0, 1] (min {x.min().item():.3g}, max {x.max().item():.3g}); "
            "a Bernoulli likelihood needs pixel values in [0, 1]"
        )
    if log_var is not None and not torch.isfinite(log_var).all():
        causes.append(
            "the encoder's log-variance is not finite, so the weights already hold NaN or inf"
        )
    elif log_var is not None and log_var.abs().max() > 50:
        causes.append(
            f"the log-variance reached {log_var.abs().max().item():.3g}, so exp() overflows"
        )
    if before_any_step:
        causes.append(
            "the loss formula itself: it is NaN before any optimizer step, so the weights and "
            "the learning rate are not to blame (a logarithm of a negative number, as "
            "nn.KLDivLoss(mean, std) or a raw output used as sigma give)"
        )
    else:
        causes.append(
            f"a learning rate too high for this model (now {lr:g}; 1e-3 is a safe start for Adam)"
        )
    return "; ".join(causes)


def train_epoch(
    model: VAE,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    on_step: Callable[[int], object] | None = None,
    objective: Objective | None = None,
    first_step: int = 0,
    world: distributed.World | None = None,
    loss_fn: Callable[..., NegativeELBO] | None = None,
) -> EpochLosses:
    """One pass over ``batches``, one optimizer step per batch on the batch-averaged objective.

    The model's ``loss(batch, kl_weight, free_bits, importance_samples)`` gives the objective (by
    default the negative ELBO); ``first_step`` counts the steps of earlier epochs, for the KL
    warm-up. Returns the epoch's average negative ELBO, reconstruction and KL terms and objective
    per example (nats), measured on each batch before its step. ``on_step(batch_size)`` runs
    after every step (the progress bar's ``update``).

    With a ``world`` of several processes (:mod:`vae_tutorial.distributed`), each batch is a
    global one: this process computes the loss of its share with ``loss_fn``, ``model.loss``
    wrapped in DDP, and the returned averages are over all processes' shares. By default: one
    process and ``model.loss``.

    Raises:
        TrainingDiverged: the loss of a batch was NaN or infinite (nothing is stepped then).
    """
    objective = objective or Objective()
    world = world or distributed.World()
    loss_fn = loss_fn or model.loss
    totals = torch.zeros(4, dtype=torch.float64, device=next(model.parameters()).device)
    for step, item in enumerate(batches):
        batch = as_batch(item)  # images, and labels if the data has them
        mine = world.share(batch)  # this process's rows: all of them in a single process
        kl_weight = objective.kl_weight(first_step + step, len(batches))
        with world.global_noise(len(batch)):  # ε drawn as one process draws it for the batch
            out = loss_fn(mine, kl_weight, objective.free_bits, objective.importance_samples)
        elbo = out.reconstruction + out.kl  # the negative ELBO, whatever the objective
        parts = torch.stack([elbo, out.reconstruction, out.kl, out.loss]).detach().double()
        parts = world.sum(parts * len(mine))  # summed over the whole batch
        if not torch.isfinite(parts[3]):
            loss, rec, kl = (parts[[3, 1, 2]] / len(batch)).tolist()
            if torch.isfinite(parts[0]):  # the ELBO is fine: the objective's knobs overflowed it
                cause = (
                    f"the objective overflows while the negative ELBO is finite: the KL weight "
                    f"{kl_weight:g} (--beta) times the KL is too large for float32 (about 3.4e38);"
                    " use a smaller beta"
                )
            else:
                cause = _diagnose_batch(model, mine, optimizer, first_step + step == 0)
            raise TrainingDiverged(
                f"batch {step + 1}: the loss became {loss} "
                f"(reconstruction {rec:.4g}, KL {kl:.4g}). Likely cause: {cause}."
            )
        optimizer.zero_grad(set_to_none=True)
        # DDP averages the processes' gradients; weighting each by its share of the batch makes
        # that the gradient of the whole batch's mean loss (the weight is 1 for one process)
        (out.loss * (world.size * len(mine) / len(batch))).backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        totals += parts
        if on_step is not None:
            on_step(len(batch))
    return EpochLosses(*(totals / len(batches.images)).tolist())


def _check_loss_signature(model: VAE) -> None:
    """Raise a clear error unless ``model.loss`` takes what :func:`train_epoch` passes it."""
    try:
        inspect.signature(model.loss).bind(None, 1.0, 0.0, 1)
    except TypeError:
        raise TypeError(
            f"{type(model).__name__}.loss{inspect.signature(model.loss)} cannot be called as "
            "loss(batch, kl_weight, free_bits, importance_samples), which is how train() calls "
            "every model. Give it the parameter importance_samples=1 and pass it on to "
            "super().loss(batch, kl_weight, free_bits, importance_samples)."
        ) from None


def _diagnose_batch(
    model: VAE, batch: Batch, optimizer: torch.optim.Optimizer, before_any_step: bool = False
) -> str:
    with torch.no_grad():
        _, _, log_var = model(batch.x, batch.y)
    return _diagnose(batch.target, log_var, optimizer.param_groups[0]["lr"], before_any_step)


def _first_epoch_findings(model: VAE, batches: Batches) -> list[str]:
    """:func:`vae_tutorial.diagnostics.diagnose` on the first validation batch, with its own random
    stream, so that checking never changes what training draws next."""
    devices = [batches.device] if batches.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        return diagnose(model, as_batch(next(iter(batches))))


def _batches(data: ImageData, config: TrainConfig, device: torch.device) -> tuple[Batches, Batches]:
    """The training batches (shuffled, binarized as ``config`` says, corrupted if it says so) and
    the validation batches (in order, one fixed binarization, 1,000 digits each)."""
    if data.validation_images is None:
        raise ValueError("the data has no validation split: pass it through hold_out_validation")
    binarize_fixed: Binarize = "none" if config.binarize == "none" else "static"
    train_batches = Batches(
        data.train_images,
        data.train_labels,
        batch_size=config.batch_size,
        binarize=config.binarize,
        device=device,
        seed=config.seed,
        with_labels=data.train_labels is not None,
        corruption=config.corruption,
    )
    validation_batches = Batches(
        data.validation_images, data.validation_labels, batch_size=1000, shuffle=False,
        binarize=binarize_fixed, device=device, seed=VALIDATION_BINARIZATION_SEED,
        with_labels=data.validation_labels is not None,
    )  # fmt: skip
    return train_batches, validation_batches


def _scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The learning-rate schedule: ``None`` for a constant rate, or a cosine decay to 0 over all
    the run's steps."""
    if config.lr_schedule != "cosine":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.epochs * steps_per_epoch
    )


def _check_resumable(
    checkpoint: str | os.PathLike[str],
    state: dict[str, Any],
    model_config: VAEConfig,
    config: TrainConfig,
    data_source: str,
) -> None:
    """Insist that the stored ``state`` is the run this one continues: the same model, the same
    training settings (only more epochs, and only with a constant schedule), the same data.

    Raises:
        CheckpointError: naming what differs.
    """
    stored = VAEConfig(**state["model_config"])
    if stored != model_config:
        raise CheckpointError(
            f"{checkpoint} holds a {stored.describe()} ({stored}); this model is a "
            f"{model_config.describe()} ({model_config}). Resume with the same model settings."
        )
    stored_config = TrainConfig.from_dict(state["train_config"])
    if replace(stored_config, epochs=config.epochs) != config:
        raise CheckpointError(
            f"{checkpoint} was trained with {stored_config}, not {config}. "
            "Resume with the same training settings, or start a new run with another --out."
        )
    if config.epochs != stored_config.epochs and config.lr_schedule != "constant":
        raise CheckpointError(
            f"{checkpoint} uses a {config.lr_schedule} schedule planned for "
            f"{stored_config.epochs} epochs; it cannot be extended to {config.epochs}. "
            "Start a new run instead."
        )
    if state.get("data_source") != data_source:
        raise CheckpointError(
            f"{checkpoint} was trained on {state.get('data_source')!r} data, "
            f"this run has {data_source!r}."
        )


def _resume(
    checkpoint: str | os.PathLike[str] | None,
    model: VAE,
    config: TrainConfig,
    data_source: str,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    train_batches: Batches,
) -> History:
    """Load the run stored in ``checkpoint`` after checking it (:func:`_check_resumable`): the
    model's, optimizer's and schedule's states and the random-number states. Returns its history."""
    if checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    state = load_checkpoint(checkpoint)
    _check_resumable(checkpoint, state, model.config, config, data_source)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    _set_rng_state(state["rng"], train_batches)
    return History.from_dict(state["history"])


def _append_epoch(
    history: History, train: EpochLosses, validation: tuple[float, float, float], seconds: float
) -> None:
    """Add one epoch's numbers to ``history``: its training losses, the validation negative ELBO
    with its two parts, and its duration."""
    names = (
        "train_loss", "train_reconstruction", "train_kl", "train_objective",
        "validation_loss", "validation_reconstruction", "validation_kl", "seconds",
    )  # fmt: skip
    for name, value in zip(names, (*train, *validation, seconds), strict=True):
        getattr(history, name).append(value)


def _checkpoint_state(
    model: VAE,
    config: TrainConfig,
    data_source: str,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    history: History,
    train_batches: Batches,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    """What every epoch's checkpoint holds: both configurations, the data's name, the model's,
    optimizer's and schedule's states, the history, the random-number states, and ``extra``."""
    return {
        "model_config": model.config.to_dict(),
        "train_config": asdict(config),
        "data_source": data_source,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "history": history.to_dict(),
        "rng": _rng_state(train_batches),
        "extra": extra or {},
    }


def _epoch_line(history: History, epochs: int) -> str:
    """The line logged after the latest epoch of ``history``: the negative ELBO in nats per digit,
    on the training set and on the validation split, split into its two terms, and the seconds it
    took."""
    return (
        f"epoch {history.epochs:>3}/{epochs}: train {history.train_loss[-1]:6.2f}  "
        f"validation {history.validation_loss[-1]:6.2f} = "
        f"rec {history.validation_reconstruction[-1]:6.2f} "
        f"+ KL {history.validation_kl[-1]:5.2f}  ({history.seconds[-1]:.1f} s)"
    )


def _log_epoch(
    log: Callable[[str], None], history: History, epochs: int, model: VAE, batches: Batches
) -> None:
    """Log the latest epoch's line (:func:`_epoch_line`), and after the first epoch a warning for
    each of :func:`_first_epoch_findings`: the common mistakes of chapter 13, checked once."""
    log(_epoch_line(history, epochs))
    if history.epochs == 1:
        for finding in _first_epoch_findings(model, batches):
            log(f"warning: {finding}")


def _stopped(
    error: TrainingDiverged, epoch: int, checkpoint: str | os.PathLike[str] | None
) -> TrainingDiverged:
    """``error`` of the 0-based ``epoch``, told with where the run stopped and what is saved: the
    last good checkpoint, or that none was written."""
    where = f"Training stopped at epoch {epoch + 1}, {error}"
    if checkpoint is None:
        last = ""
    elif epoch > 0:  # the epochs before this one were saved
        last = f" The last good checkpoint (epoch {epoch}) is {checkpoint}."
    else:
        last = " No checkpoint was written: the first epoch never finished."
    return TrainingDiverged(where + last)


def _progress_bar(epochs: int, done: int, n_train: int, progress: bool) -> tqdm:
    """One bar for the whole run, counting training images, started after ``done`` epochs
    (``tqdm.auto``: a widget in notebooks)."""
    return tqdm(
        total=epochs * n_train,
        initial=done * n_train,
        desc=f"epoch {min(done + 1, epochs)}/{epochs}",
        unit="img",
        unit_scale=True,
        disable=not progress,
        mininterval=1,
    )


def train(
    model: VAE,
    data: ImageData,
    config: TrainConfig,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    extra: dict[str, Any] | None = None,
    on_epoch_end: Callable[[int, VAE, History], None] | None = None,
) -> History:
    """Train ``model`` on ``data.train_images`` by minimizing ``config.objective`` with Adam.

    ``data`` is any :class:`~vae_tutorial.data.ImageData` (28 x 28 ``uint8`` images; labels, if
    it has them, travel in every batch, and the model uses them or not). The objective is the
    negative ELBO unless ``config.objective`` sets β, KL warm-up, free bits or importance samples;
    the logged and recorded losses are always the negative ELBO. Runs on the device the model is on.

    With ``config.corruption`` the encoder reads corrupted training images and the likelihood
    scores the clean ones (a denoising VAE); the validation ELBO is always that of clean digits.

    Data without a validation split gets one (:func:`~vae_tutorial.data.hold_out_validation`: a
    fixed sixth of its training images, no longer trained on). After every epoch it evaluates the
    negative ELBO on the (fixed-binarization) validation split, logs one line, and saves
    ``checkpoint`` if given. The test set is never looked at. With ``resume=True`` it continues from
    ``checkpoint``. ``extra`` is stored in the checkpoint as is.
    ``on_epoch_end(epoch, model, history)`` runs after each epoch (``epoch`` counts from 1), for
    example to draw samples; it must not consume the global random stream if the run is to resume
    exactly (use ``torch.random.fork_rng`` or a ``torch.Generator``).

    In a process group (``torchrun``, see :mod:`vae_tutorial.distributed`) it trains with DDP:
    ``config.batch_size`` is the global batch, which the processes share, and the run is the one
    a single process would train, up to the order of floating-point sums. Process 0 alone logs,
    shows the progress bar and writes the checkpoint; every process reads it to resume, and runs
    ``on_epoch_end``.

    Raises:
        TrainingDiverged: the loss became NaN or infinite; training stops at once.
        CheckpointError: ``resume`` found a checkpoint of another model or another run.
        ValueError: several processes cannot share ``config.batch_size`` evenly.
        TypeError: ``model.loss`` does not take ``importance_samples`` (an older override).
    """
    check_image_data(data)
    _check_loss_signature(model)
    if getattr(data, "validation_images", None) is None:
        data = hold_out_validation(data)
        if log and distributed.current().is_main:
            log(f"Held out {len(data.validation_images):,} of the training images for validation.")
    world = distributed.current()
    world.check_batch_size(config.batch_size, len(data.train_images))
    if not world.is_main:  # process 0 alone logs, shows the bar and writes the checkpoint
        log, progress = None, False
    if not resume:
        torch.manual_seed(config.seed)
    train_batches, validation_batches = _batches(data, config, next(model.parameters()).device)
    optimizer = _adam(model, config.learning_rate)
    scheduler = _scheduler(optimizer, config, len(train_batches))
    history = History()
    if resume:
        history = _resume(
            checkpoint, model, config, data.source, optimizer, scheduler, train_batches
        )
        if log and history.epochs:
            log(f"Resuming {checkpoint} after epoch {history.epochs} of {config.epochs}.")

    loss_fn = world.data_parallel(model)  # model.loss, in DDP when there are several processes
    model.train()
    bar = _progress_bar(config.epochs, history.epochs, len(train_batches.images), progress)
    try:
        for epoch in range(history.epochs, config.epochs):
            start = time.perf_counter()
            bar.set_description(f"epoch {epoch + 1}/{config.epochs}", refresh=False)
            try:
                losses = train_epoch(
                    model, train_batches, optimizer, scheduler, on_step=bar.update,
                    objective=config.objective, first_step=epoch * len(train_batches),
                    world=world, loss_fn=loss_fn,
                )  # fmt: skip
            except TrainingDiverged as error:
                raise _stopped(error, epoch, checkpoint) from None
            validation = evaluate_elbo(model, validation_batches, seed=config.seed, world=world)
            _append_epoch(history, losses, validation, time.perf_counter() - start)
            if checkpoint is not None and world.is_main:  # all processes hold the same state
                save_checkpoint(checkpoint, _checkpoint_state(
                    model, config, data.source, optimizer, scheduler, history, train_batches, extra
                ))  # fmt: skip
            # the validation -ELBO, nats per digit
            bar.set_postfix_str(f"validation {history.validation_loss[-1]:.2f}", refresh=False)
            if log:
                with bar.external_write_mode():  # keeps a terminal bar from tearing the line
                    _log_epoch(log, history, config.epochs, model, validation_batches)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, model, history)
    finally:
        bar.close()
    return history


def reference_checkpoint(name: str, repo_url: str | None = None, branch: str = "main") -> Path:
    """Path to one of the book's reference checkpoints, ``checkpoints/<name>.pt``.

    In a checkout the file is used where it is. Elsewhere (Colab), it and its ``.json`` record are
    downloaded once from ``repo_url`` (the notebooks pass the repository URL of ``_config.yml``)
    into ``~/.cache/vae_tutorial``.
    """
    return _reference(name, (".json", ".pt"), repo_url, branch).with_suffix(".pt")


def reference_record(name: str, repo_url: str | None = None, branch: str = "main") -> Path:
    """Path to the JSON record of one of the book's reference runs, ``checkpoints/<name>.json``,
    found or downloaded as :func:`reference_checkpoint` does. Some runs keep only their record (an
    intermediate model of a chain, a repeat with another seed): its commands make the model again.
    Returns the path of the ``.pt`` beside it, which :func:`~vae_tutorial.records.read_record`
    takes, whether or not that file exists."""
    return _reference(name, (".json",), repo_url, branch).with_suffix(".pt")


def _reference(name: str, suffixes: tuple[str, ...], repo_url: str | None, branch: str) -> Path:
    """``checkpoints/<name>`` with every one of ``suffixes``: in the checkout, in the cache, or
    downloaded into the cache from ``repo_url``. Returns the path without a suffix."""
    local = Path(__file__).resolve().parent.parent / "checkpoints" / name
    if all(local.with_suffix(suffix).is_file() for suffix in suffixes):
        return local
    cached = Path.home() / ".cache" / "vae_tutorial" / name
    if all(cached.with_suffix(suffix).is_file() for suffix in suffixes):
        return cached
    wanted = local.with_suffix(suffixes[-1])
    if repo_url is None:
        raise CheckpointError(
            f"Reference file {name!r} not found at {wanted}, and no repository URL given."
        )
    import urllib.request

    cached.parent.mkdir(parents=True, exist_ok=True)
    for suffix in suffixes:
        url = f"{repo_url.rstrip('/')}/raw/{branch}/checkpoints/{name}{suffix}"
        tmp = cached.with_name(f".{name}{suffix}.tmp")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                tmp.write_bytes(response.read())
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise CheckpointError(
                f"Could not download the reference file from {url} ({err}). "
                "Retrain it instead (set RETRAIN = True), or copy checkpoints/ from the repository."
            ) from err
        os.replace(tmp, cached.with_suffix(suffix))
    return cached
