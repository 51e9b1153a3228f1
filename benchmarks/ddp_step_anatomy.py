"""Where a data-parallel training step's time goes: one process against two under torchrun.

    export VAE_TUTORIAL_DATA=../shared/data
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ddp_step_anatomy.py
    .venv/bin/torchrun --nproc_per_node=2 benchmarks/ddp_step_anatomy.py

Times 300 steps of chapter 6's model (784-400-20, global batch 128, dynamic binarization, fused
Adam), phase by phase, the way ``vae_tutorial.train.train_epoch`` takes them: make the global
batch, take this process's share, the loss (through DDP when there are several processes), the
all-reduce of the batch's losses, ``backward`` (with DDP's all-reduce of the gradients) and the
Adam step. With several processes it also times the two all-reduces alone: 3 numbers, and as many
numbers as the model has parameters. Process 0 prints milliseconds per step.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist

from vae_tutorial import distributed
from vae_tutorial.data import Batches, as_batch, load_mnist
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.train import _adam

STEPS = 300


def main() -> None:
    world, _ = distributed.start(torch.device("cpu"))
    data = load_mnist(verbose=world.is_main)
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=20, hidden_dims=(400,)))
    optimizer = _adam(model, 1e-3)
    loss_fn = world.data_parallel(model)
    batches = Batches(data.train_images, batch_size=128, binarize="dynamic")
    phases = dict.fromkeys(["batch", "share", "loss", "sum", "backward", "step"], 0.0)

    def lap(phase: str, since: float) -> float:
        now = time.perf_counter()
        phases[phase] += now - since
        return now

    t = time.perf_counter()
    for step, item in enumerate(batches):
        if step == STEPS:
            break
        t = lap("batch", t)
        batch = as_batch(item)
        mine = world.share(batch)
        t = lap("share", t)
        with world.global_noise(len(batch)):
            out = loss_fn(mine, 1.0, 0.0)
        t = lap("loss", t)
        parts = torch.stack([out.loss, out.reconstruction, out.kl]).detach().double()
        world.sum(parts * len(mine))
        t = lap("sum", t)
        optimizer.zero_grad(set_to_none=True)
        (out.loss * (world.size * len(mine) / len(batch))).backward()
        t = lap("backward", t)
        optimizer.step()
        t = lap("step", t)

    alone = {}
    if world.size > 1:
        n_params = sum(p.numel() for p in model.parameters())
        for numel in (3, n_params):
            tensor = torch.ones(numel)
            for _ in range(20):
                dist.all_reduce(tensor)
            dist.barrier()
            start = time.perf_counter()
            for _ in range(STEPS):
                dist.all_reduce(tensor)
            alone[numel] = (time.perf_counter() - start) / STEPS
    if world.is_main:
        print(f"{world.size} process(es), {torch.get_num_threads()} thread(s) each, "
              f"ms per step: " + ", ".join(f"{k} {1e3 * v / STEPS:.2f}" for k, v in phases.items())
              + f"; total {1e3 * sum(phases.values()) / STEPS:.2f}")  # fmt: skip
        for numel, seconds in alone.items():
            print(f"all-reduce of {numel:,} numbers alone: {1e3 * seconds:.2f} ms")
    distributed.stop()


if __name__ == "__main__":
    main()
