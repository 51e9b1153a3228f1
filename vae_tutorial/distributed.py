"""Training on more than one process: who is who, each one's share of a batch, and DDP.

``torchrun --nproc_per_node=N`` starts N copies of a program and tells each, in environment
variables, who it is: ``RANK`` (0 to N-1), ``LOCAL_RANK`` (its index on this machine, which picks
its GPU) and ``WORLD_SIZE`` (N). :func:`start` reads them and joins the process group through
which PyTorch's ``DistributedDataParallel`` (DDP) communicates: ``gloo`` for CPUs, ``nccl`` for
CUDA GPUs. A program started without torchrun is a :class:`World` of one process, and nothing
changes.

The processes train one run, the run a single process would train:

* The batch size is the global one. Every process draws the same global batch (the same shuffle,
  the same binarization and corruption: every process uses the same seed) and keeps a contiguous
  share of its rows (:meth:`World.share`).
* The reparameterization noise ε is drawn for the whole global batch too, and each process keeps
  its rows (:meth:`World.global_noise`). So every random number is the one a single process
  would draw, and every process's random state stays the same as every other's.
* DDP averages the processes' gradients during ``backward``. With each process's mean loss
  weighted by its share of the batch, that average is the gradient of the whole batch's mean
  loss: the single process's step, up to the order of floating-point sums.

One exception: free bits apply ``max(λ, KL_j)`` to the batch-mean KL of each latent dimension,
and with several processes that mean is taken over each process's share.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.overrides import TorchFunctionMode

from vae_tutorial.data import Batch
from vae_tutorial.losses import NegativeELBO

__all__ = ["World", "ModelLoss", "environment", "start", "stop", "current"]


class ModelLoss(nn.Module):
    """A model's ``loss(batch, kl_weight, free_bits, importance_samples)`` as the forward of a
    module.

    DDP averages the gradients in the backward pass that follows a call of the ``forward`` of the
    module it wraps, and our models' objective is their ``loss`` method, not ``forward``: this
    module makes it one.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        batch: Batch,
        kl_weight: float = 1.0,
        free_bits: float = 0.0,
        importance_samples: int = 1,
    ) -> NegativeELBO:
        return self.model.loss(batch, kl_weight, free_bits, importance_samples)


@dataclass(frozen=True)
class World:
    """The processes that train together, as one of them sees them. ``World()``: one process."""

    rank: int = 0
    """This process's number, 0 to ``size - 1``; process 0 logs and writes the checkpoint."""
    size: int = 1
    """The number of processes (``WORLD_SIZE``)."""
    local_rank: int = 0
    """Its number on this machine (``LOCAL_RANK``): the GPU it uses."""
    backend: str | None = None
    """``"gloo"`` or ``"nccl"`` once the process group is joined; ``None`` for one process."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This process's contiguous share of ``n`` rows; the first ``n % size`` get one more."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (self.rank < extra))

    def check_batch_size(self, batch_size: int, n_train: int | None = None) -> None:
        """Raise ``ValueError`` unless the processes can share every global batch of
        ``batch_size`` (of ``n_train`` training images) evenly, each getting at least one row."""
        if batch_size % self.size:
            lower = batch_size - batch_size % self.size or self.size
            raise ValueError(
                f"--batch-size {batch_size} is the global batch, which the {self.size} processes "
                f"share: it must be divisible by {self.size} (e.g. {lower} or "
                f"{lower + self.size})"
            )
        if n_train is not None and 0 < n_train % batch_size < self.size:
            raise ValueError(
                f"with --batch-size {batch_size} the last batch of an epoch holds "
                f"{n_train % batch_size} of the {n_train:,} training images, too few for "
                f"{self.size} processes to share; choose another batch size"
            )

    def share(self, batch: Batch) -> Batch:
        """This process's rows of a global batch (all of them in a single process)."""
        rows = self.rows(len(batch))
        target = None if batch.target is batch.x else batch.target[rows]
        y = None if batch.y is None else batch.y[rows]
        return Batch(batch.x[rows], target=target, y=y)

    def global_noise(self, n: int) -> contextlib.AbstractContextManager[Any]:
        """Inside, ``torch.randn`` of this process's rows of a global batch of ``n`` draws the
        noise of all ``n`` rows and keeps this process's: the values a single process draws."""
        if self.size == 1:
            return contextlib.nullcontext()
        return _GlobalBatchNoise(self.rows(n), n)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the processes, in place (a single process's: unchanged)."""
        if self.size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def data_parallel(self, model: nn.Module) -> Callable[..., NegativeELBO]:
        """``model.loss``, wrapped in DDP when there are several processes, so that ``backward``
        averages the gradients across them."""
        if self.size == 1:
            return model.loss
        device = next(model.parameters()).device
        ids = [device] if device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(ModelLoss(model), device_ids=ids)


class _GlobalBatchNoise(TorchFunctionMode):
    """Draws ``torch.randn(k, ...)``, k this process's rows, as ``torch.randn(n, ...)[rows]``.

    A ``TorchFunctionMode`` sees every torch call made inside it, so the model's code (the
    ``reparameterize`` of chapter 4) stays as it is. Draws with their own generator, or of another
    leading size, pass unchanged.
    """

    def __init__(self, rows: slice, n: int) -> None:
        super().__init__()
        self.rows, self.n = rows, n

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if func is torch.randn and kwargs.get("generator") is None:
            size = args[0] if len(args) == 1 and not isinstance(args[0], int) else args
            if len(size) and size[0] == self.rows.stop - self.rows.start:
                return func((self.n, *size[1:]), **kwargs)[self.rows]
        return func(*args, **kwargs)


def environment() -> World:
    """The world torchrun describes in this process's environment, not yet joined: one process
    when started without torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return World(rank=rank, size=size, local_rank=int(os.environ.get("LOCAL_RANK", rank)))


def start(device: torch.device, timeout_s: float = 600) -> tuple[World, torch.device]:
    """Join the process group torchrun set up, if it started this process.

    Returns this process's :class:`World` and the device it trains on: the CPU with ``gloo``, or
    with ``nccl`` the CUDA GPU ``LOCAL_RANK``. A collective that waits longer than ``timeout_s``
    (a process died) raises instead of hanging. Without torchrun: ``(World(), device)``.
    """
    world = environment()
    if world.size == 1:
        return world, device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(
            f"training on several processes runs on CPUs (gloo) or CUDA GPUs (nccl), not on "
            f"{device.type}; use --device cpu, or one process"
        )
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))  # reads the env vars
    return current(), device


def current() -> World:
    """The world of the process group this process has joined, or one process if none."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    rank = dist.get_rank()
    return World(
        rank=rank,
        size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", rank)),
        backend=dist.get_backend(),
    )


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
