"""Training steps with glibc's default malloc against ``keep_freed_memory``, side by side.

Each case runs in two fresh processes, one per allocator setting, one after the other, on the same
random binary digits and the same initial weights: the seconds per Adam step (the median of
``--repeats`` timings of ``--steps`` steps each, after one warm-up step), the process's user and
system CPU seconds, and its minor page faults per step. The cases: the convolutional VAE of
chapter 12 (32-64 channels, d = 32) at batch 128 on ``-L_50`` (6,400 decoded rows) and on the
ELBO, and chapter 6's 784-400-20 MLP at batch 128. The losses of the two settings must agree
exactly: the allocator changes where memory comes from, not what is computed.

Run: ``python benchmarks/allocator.py [--threads N] [--out results/allocator.json]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

CASES = {
    "conv 32-64, d=32, -L_50": dict(architecture="conv", hidden_dims=(32, 64), latent_dim=32, k=50),
    "conv 32-64, d=32, ELBO": dict(architecture="conv", hidden_dims=(32, 64), latent_dim=32, k=1),
    "MLP 784-400-20, ELBO": dict(architecture="mlp", hidden_dims=(400,), latent_dim=20, k=1),
}

CHILD = """
import json, resource, statistics, sys, time, torch
from vae_tutorial.allocator import keep_freed_memory
from vae_tutorial.model import VAEConfig
from vae_tutorial.train import _adam
from vae_tutorial.variants import build_model
case, mode, threads, steps, repeats = json.loads(sys.argv[1])
kept = keep_freed_memory() if mode == "kept" else False
torch.set_num_threads(threads)
torch.manual_seed(0)
k = case.pop("k")
model = build_model(VAEConfig(**case))
optimizer = _adam(model, lr=1e-4)  # the optimizer train() builds
x = torch.bernoulli(torch.full((128, 784), 0.13), generator=torch.Generator().manual_seed(0))
def step():
    optimizer.zero_grad(set_to_none=True)
    loss = model.loss(x, importance_samples=k).loss
    loss.backward()
    optimizer.step()
    return loss.item()
losses = [step()]
usage = resource.getrusage(resource.RUSAGE_SELF)
times = []
for _ in range(repeats):
    start = time.perf_counter()
    losses += [step() for _ in range(steps)]
    times.append((time.perf_counter() - start) / steps)
after = resource.getrusage(resource.RUSAGE_SELF)
n = steps * repeats
print(json.dumps({
    "kept": kept, "seconds_per_step": statistics.median(times),
    "user_cpu_seconds_per_step": (after.ru_utime - usage.ru_utime) / n,
    "system_cpu_seconds_per_step": (after.ru_stime - usage.ru_stime) / n,
    "minor_faults_per_step": (after.ru_minflt - usage.ru_minflt) / n,
    "losses": losses,
}))
"""


def run(case: dict, mode: str, threads: int, steps: int, repeats: int) -> dict:
    """One fresh process: ``mode`` is "default" or "kept"."""
    argument = json.dumps([case, mode, threads, steps, repeats])
    result = subprocess.run(
        [sys.executable, "-c", CHILD, argument], capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise SystemExit(f"error: the {mode} process failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timing (default: 5)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per case (default: 3)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {platform.libc_ver()[0] or 'no'} "
        f"libc; seconds per step (median), CPU seconds per step, minor faults per step"
    )
    results = {}
    for name, case in CASES.items():
        default, kept = (
            run(dict(case), m, args.threads, args.steps, args.repeats) for m in ("default", "kept")
        )
        if default["losses"] != kept["losses"]:
            raise SystemExit(f"error: {name}: the losses differ between the two settings")
        results[name] = {"default": default, "kept": kept}
        for label, r in (("default", default), ("kept", kept)):
            print(
                f"{name:<26} {label:<8} {r['seconds_per_step']:7.3f} s"
                f"  user {r['user_cpu_seconds_per_step']:6.3f}"
                f"  sys {r['system_cpu_seconds_per_step']:6.3f}"
                f"  faults {r['minor_faults_per_step']:9,.0f}"
            )
        ratio = default["seconds_per_step"] / kept["seconds_per_step"]
        print(f"{name:<26} default / kept: {ratio:.2f}x, the same losses")
    if args.out:
        summary = {
            "date": datetime.date.today().isoformat(),
            "torch": torch.__version__,
            "threads": args.threads,
            "steps": args.steps,
            "repeats": args.repeats,
            "results": results,
        }
        args.out.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
