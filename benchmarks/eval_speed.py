"""How fast is the importance-weighted evaluation? A plain loop against ``log_likelihood``.

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

Writes ``benchmarks/results/eval_speed.json``. Run:
``python benchmarks/eval_speed.py [--digits 1000] [--k 5000] [--threads N] [--full-test-set]``.
"""

from __future__ import annotations

import argparse
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
from torch.distributions import Normal

from vae_tutorial.data import TEST_BINARIZATION_SEED, default_data_root, load_mnist
from vae_tutorial.evaluate import log_likelihood
from vae_tutorial.model import VAE
from vae_tutorial.records import read_record
from vae_tutorial.train import load_model, reference_checkpoint

RESULTS = Path(__file__).resolve().parent / "results" / "eval_speed.json"


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--digits", type=int, default=1000, help="first N test digits")
    parser.add_argument("--k", type=int, default=5000, help="importance samples per digit")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (torch's default)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of both computations")
    parser.add_argument(
        "--full-test-set", action="store_true", help="also time the package on all 10,000 digits"
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    data = load_mnist(default_data_root())
    if not data.is_full:
        print("Note: not full MNIST; the numbers are not comparable with benchmarks/README.md.")
    path = reference_checkpoint("burda_vae")
    model = load_model(path).eval()
    images = data.test_images[: args.digits]
    # the package's fixed binarization of the test set: one Bernoulli draw with its seed
    digits = torch.bernoulli(
        images.reshape(len(images), -1).float() / 255,
        generator=torch.Generator().manual_seed(TEST_BINARIZATION_SEED),
    )
    print(f"torch {torch.__version__}, {threads} torch threads, load average {load_average()}")
    print(f"{len(images):,} test digits, k = {args.k:,}, model {path.name}")

    plain, plain_timing = timed(
        "plain loop (one digit, 1,000 samples at a time)",
        lambda: plain_loop(model, digits, args.k, seed=args.seed),
    )
    package, package_timing = timed(
        "vae_tutorial.evaluate.log_likelihood",
        lambda: log_likelihood(model, images, args.k, seed=args.seed),
    )
    plain_s, package_s = plain_timing["seconds"], package_timing["seconds"]
    difference = package - plain
    se = (difference.std() / len(difference) ** 0.5).item()
    print(
        f"package / plain time: {package_s / plain_s:.2f} (plain is {plain_s / package_s:.2f}x "
        f"the package's time); mean difference {difference.mean():+.4f} nats, "
        f"standard error {se:.4f} (independent noise)"
    )
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "torch": torch.__version__,
        "torch_threads": threads,
        "load_average_at_start": load_average(),
        "data": data.source,
        "model": path.name,
        "digits": len(images),
        "k": args.k,
        "plain_loop": {**plain_timing, "mean_bound": round(plain.mean().item(), 4)},
        "package": {**package_timing, "mean_bound": round(package.mean().item(), 4)},
        "speedup_over_plain": round(plain_s / package_s, 3),
        "mean_difference": round(difference.mean().item(), 4),
        "difference_standard_error": round(se, 4),
    }
    if args.full_test_set:
        everything, timing = timed(
            f"log_likelihood, all {len(data.test_images):,} test digits",
            lambda: log_likelihood(model, data.test_images, args.k, seed=args.seed),
        )
        nll = -everything.mean().item()
        se_all = (everything.std() / len(everything) ** 0.5).item()
        recorded = read_record(path).get("evaluation", {}).get("iwae", {}).get(str(args.k))
        print(f"  test NLL {nll:.3f} ± {se_all:.3f} nats; the checkpoint's record: {recorded}")
        record["full_test_set"] = {
            "digits": len(everything),
            **timing,
            "nll": round(nll, 4),
            "standard_error": round(se_all, 3),
            "recorded": recorded,
        }
    record["load_average_at_end"] = load_average()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
