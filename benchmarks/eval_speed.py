"""How fast is the importance-weighted evaluation? A plain loop against ``log_likelihood``.

``--model mnist_conv`` instead times the convolutional decoder before and after its faster
forward pass (channels-last maps from the first layer on with no copy between layers, the output
layer as a sub-pixel convolution, smaller blocks), in one run on the same digits with the same
noise, so the two bounds agree up to float rounding, digit by digit.

Both compute L_k, the importance-weighted bound on log p(x) (Burda et al. 2016), for the same
digits (the first 1,000 test digits by default, binarized once with the package's fixed test seed),
with the evaluation chapter's reference model (784-200-200-50 tanh, ``checkpoints/burda_vae.pt``)
and k = 5,000, one after the other in one run:

1. the plain loop, written out below: one digit at a time, 1,000 samples of z at a time, the
   Bernoulli term from ``binary_cross_entropy_with_logits`` and the Gaussian densities from
   ``torch.distributions.Normal``;
2. the package's :func:`vae_tutorial.evaluate.log_likelihood` (100 digits at a time).

They draw different noise, so their averages agree only within Monte Carlo noise: the benchmark
prints the difference and its standard error. ``--full-test-set`` also times the package alone on
all 10,000 test digits (the number the evaluation chapter quotes) and compares it with the
checkpoint's record. Each timing comes with the cores that other processes kept busy meanwhile
(Linux's /proc/stat): on a shared machine, record only runs where that is near 0. Needs full MNIST
(``VAE_TUTORIAL_DATA=../shared/data``).

Writes ``benchmarks/results/eval_speed.json`` (``eval_speed_conv.json`` for the conv model). Run:
``python benchmarks/eval_speed.py [--model burda_vae|mnist_conv] [--digits 1000] [--k 5000]
[--threads N] [--full-test-set]``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal

from vae_tutorial import evaluate
from vae_tutorial.conv import ConvDecoder, ConvLogits
from vae_tutorial.data import TEST_BINARIZATION_SEED, default_data_root, load_mnist
from vae_tutorial.evaluate import log_likelihood
from vae_tutorial.model import VAE
from vae_tutorial.records import read_record
from vae_tutorial.train import load_model, reference_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"


@torch.no_grad()
def plain_loop(
    model: VAE, digits: torch.Tensor, k: int, samples_per_step: int = 1000, seed: int = 0
) -> torch.Tensor:
    """L_k for each binarized digit ``(N, 784)``, the way one writes it without a package."""
    generator = torch.Generator().manual_seed(seed)
    bounds = []
    for x in digits:  # one digit, (784,)
        mean, log_var = model.encode(x[None])  # (1, d) each
        std = torch.exp(0.5 * log_var)
        log_w = []
        for start in range(0, k, samples_per_step):
            n = min(samples_per_step, k - start)
            z = mean + std * torch.randn((n, mean.shape[-1]), generator=generator)  # (n, d)
            logits = model.decode(z)  # (n, 784)
            log_px = -F.binary_cross_entropy_with_logits(
                logits, x.expand_as(logits), reduction="none"
            ).sum(-1)
            log_pz = Normal(0.0, 1.0).log_prob(z).sum(-1)
            log_qz = Normal(mean, std).log_prob(z).sum(-1)
            log_w.append(log_px + log_pz - log_qz)
        bounds.append(torch.logsumexp(torch.cat(log_w).double(), dim=0) - math.log(k))
    return torch.stack(bounds)


class PreviousConvDecoder(nn.Module):
    """The convolutional decoder's forward pass before the change: a plain linear layer, the maps
    in torch's default (NCHW) memory layout, rows in (c, h, w) order. The same weights, so it
    computes the same function."""

    def __init__(self, decoder: ConvDecoder) -> None:
        super().__init__()
        first = decoder.to_maps[0]
        self.linear = nn.Linear(first.in_features, first.out_features)
        self.linear.load_state_dict(first.state_dict())
        self.act, self.deconvs, self.first = decoder.to_maps[1], decoder.deconvs, decoder.first

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        maps = self.act(self.linear(z.reshape(-1, z.shape[-1]))).reshape(-1, *self.first)
        return self.deconvs(maps).reshape(*z.shape[:-1], -1)


class PreviousConvLogits(nn.Module):
    """The output layer before the change: torch's own ``nn.ConvTranspose2d`` (not its sub-pixel
    equivalent) on NCHW maps read from (c, h, w) rows; the same weights."""

    def __init__(self, logits: ConvLogits) -> None:
        super().__init__()
        fast = logits.deconv
        self.maps = logits.maps
        self.deconv = nn.ConvTranspose2d(fast.in_channels, fast.out_channels, 4, 2, 1)
        self.deconv.load_state_dict(fast.state_dict())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        maps = features.reshape(-1, *self.maps)
        return self.deconv(maps).reshape(*features.shape[:-1], -1)


def previous_conv_model(model: VAE) -> VAE:
    """A copy of a conv VAE that decodes as before the change, with the same weights."""
    previous = copy.deepcopy(model)
    previous.decoder = PreviousConvDecoder(previous.decoder)
    previous.to_logits = PreviousConvLogits(previous.to_logits)
    return previous


def before_the_change(model: VAE, images: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """``log_likelihood`` as it ran before the change: the previous conv decoder, decoded in
    blocks of 1,000 rows (``evaluate.DECODE_ROWS`` then)."""
    saved, evaluate.DECODE_ROWS = evaluate.DECODE_ROWS, 1000
    try:
        return log_likelihood(previous_conv_model(model), images, k, seed=seed)
    finally:
        evaluate.DECODE_ROWS = saved


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have used since boot (Linux's /proc/stat), else None."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed(label: str, run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Run and time ``run``; also measure how many cores other processes kept busy meanwhile (on
    a shared machine, a timing is only worth recording when that is near 0)."""
    print(f"{label} ...", flush=True)
    busy, own = busy_cpu_seconds(), resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    timing = {"seconds": round(seconds, 2)}
    end = busy_cpu_seconds()
    if busy is not None and end is not None:
        mine = (after.ru_utime - own.ru_utime) + (after.ru_stime - own.ru_stime)
        timing["other_processes_cores"] = round(max(0.0, end - busy - mine) / seconds, 2)
    print(
        f"  {seconds:7.1f} s   mean L_k {result.mean():.3f} nats   "
        f"(other processes: {timing.get('other_processes_cores', '?')} cores on average)",
        flush=True,
    )
    return result, timing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model",
        choices=("burda_vae", "mnist_conv"),
        default="burda_vae",
        help="burda_vae: plain loop against the package; mnist_conv: the conv decoder before and "
        "after its faster forward pass",
    )
    parser.add_argument("--digits", type=int, default=1000, help="first N test digits")
    parser.add_argument("--k", type=int, default=5000, help="importance samples per digit")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (torch's default)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of both computations")
    parser.add_argument(
        "--full-test-set", action="store_true", help="also time the package on all 10,000 digits"
    )
    return parser.parse_args()


def compare(
    args: argparse.Namespace, model: VAE, images: torch.Tensor, digits: torch.Tensor
) -> dict[str, object]:
    """Time the two computations of the same bounds, one after the other, and compare them."""
    if args.model == "mnist_conv":
        names = ("conv decoder before the change", "conv decoder now")
        before, before_timing = timed(
            f"log_likelihood, {names[0]}",
            lambda: before_the_change(model, images, args.k, args.seed),
        )
    else:
        names = ("plain_loop", "package")
        before, before_timing = timed(
            "plain loop (one digit, 1,000 samples at a time)",
            lambda: plain_loop(model, digits, args.k, seed=args.seed),
        )
    after, after_timing = timed(
        "vae_tutorial.evaluate.log_likelihood",
        lambda: log_likelihood(model, images, args.k, seed=args.seed),
    )
    before_s, after_s = before_timing["seconds"], after_timing["seconds"]
    difference = after - before
    se = (difference.std() / len(difference) ** 0.5).item()
    noise = "the same noise" if args.model == "mnist_conv" else "independent noise"
    print(
        f"before / after time: {before_s / after_s:.2f}x; mean difference "
        f"{difference.mean():+.5f} nats, standard error {se:.5f}, largest per digit "
        f"{difference.abs().max():.2e} ({noise})"
    )
    return {
        names[0]: {**before_timing, "mean_bound": round(before.mean().item(), 4)},
        names[1]: {**after_timing, "mean_bound": round(after.mean().item(), 4)},
        "speedup": round(before_s / after_s, 3),
        "mean_difference": round(difference.mean().item(), 5),
        "difference_standard_error": round(se, 5),
        "largest_difference_per_digit": float(f"{difference.abs().max():.3g}"),
        "noise": noise,
    }


def full_test_set(args: argparse.Namespace, model: VAE, path: Path, data) -> dict[str, object]:
    """The package alone on all test digits, against the checkpoint's recorded NLL."""
    everything, timing = timed(
        f"log_likelihood, all {len(data.test_images):,} test digits",
        lambda: log_likelihood(model, data.test_images, args.k, seed=args.seed),
    )
    nll = -everything.mean().item()
    se_all = (everything.std() / len(everything) ** 0.5).item()
    recorded = read_record(path).get("evaluation", {}).get("iwae", {}).get(str(args.k))
    print(f"  test NLL {nll:.3f} ± {se_all:.3f} nats; the checkpoint's record: {recorded}")
    return {
        "digits": len(everything),
        **timing,
        "nll": round(nll, 4),
        "standard_error": round(se_all, 3),
        "recorded": recorded,
    }


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    data = load_mnist(default_data_root())
    if not data.is_full:
        print("Note: not full MNIST; the numbers are not comparable with benchmarks/README.md.")
    path = reference_checkpoint(args.model)
    model = load_model(path).eval()
    images = data.test_images[: args.digits]
    # the package's fixed binarization of the test set: one Bernoulli draw with its seed
    digits = torch.bernoulli(
        images.reshape(len(images), -1).float() / 255,
        generator=torch.Generator().manual_seed(TEST_BINARIZATION_SEED),
    )
    print(f"torch {torch.__version__}, {threads} torch threads, load average {load_average()}")
    print(f"{len(images):,} test digits, k = {args.k:,}, model {path.name}")
    record: dict[str, object] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "torch": torch.__version__,
        "torch_threads": threads,
        "load_average_at_start": load_average(),
        "data": data.source,
        "model": path.name,
        "digits": len(images),
        "k": args.k,
        **compare(args, model, images, digits),
    }
    if args.full_test_set:
        record["full_test_set"] = full_test_set(args, model, path, data)
    record["load_average_at_end"] = load_average()
    suffix = "_conv" if args.model == "mnist_conv" else ""
    out = RESULTS / f"eval_speed{suffix}.json"
    RESULTS.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
