"""Seconds per epoch of chapter 6's model on full MNIST: one process, or two under torchrun.

    VAE_TUTORIAL_DATA=../shared/data .venv/bin/python benchmarks/distributed_epoch_time.py

Runs ``python -m vae_tutorial train --latent-dim 20 --hidden-dims 400 --activation relu
--batch-size 128 --epochs 2`` in each configuration below, in turn, ``--repeats`` times, and
prints every epoch's time as the JSON record beside the checkpoint has it (the epoch's 469 steps
and its test-set evaluation, as the training log reports it). One configuration is no data
parallelism at all: two independent one-thread runs at the same time, which shows how much two
busy cores slow each other down.

Before each command it waits until the CPUs have been idle for two seconds (Linux's
``/proc/stat``): on a busy machine the numbers measure the neighbours, so a run during which other
programs used a CPU second or more is shown but not counted. ``--oversubscribed`` adds two
processes of two threads each (four threads on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = ["--latent-dim", "20", "--hidden-dims", "400", "--activation", "relu"]
TRAIN = ["-m", "vae_tutorial", "train", *MODEL, "--batch-size", "128", "--epochs", "2"]
TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
CONFIGURATIONS = {  # name: (threads per process, launcher, copies run at the same time)
    "1 process, 2 threads": (2, [], 1),
    "1 process, 1 thread": (1, [], 1),
    "2 processes (torchrun, DDP), 1 thread each": (1, TORCHRUN, 1),
    "2 independent 1-thread runs at once (no DDP)": (1, [], 2),
}
OVERSUBSCRIBED = {"2 processes (torchrun, DDP), 2 threads each": (2, TORCHRUN, 1)}


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds since boot, all CPUs together: (total, busy), from Linux's /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    tick = os.sysconf("SC_CLK_TCK")
    return sum(fields) / tick, (sum(fields) - fields[3] - fields[4]) / tick  # less idle, iowait


def busy_percent(seconds: float = 2.0) -> float:
    """How busy the CPUs were over the next ``seconds``."""
    total0, busy0 = cpu_seconds()
    time.sleep(seconds)
    total1, busy1 = cpu_seconds()
    return 100.0 * (busy1 - busy0) / max(1e-9, total1 - total0)


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_until_idle(threshold: float = 5.0, poll_s: float = 30.0, give_up_s: float = 3600) -> float:
    """Wait until the CPUs are idle; return the busy percentage measured last."""
    deadline = time.monotonic() + give_up_s
    while (busy := busy_percent()) > threshold and time.monotonic() < deadline:
        print(f"  (CPUs {busy:.0f}% busy: waiting)", flush=True)
        time.sleep(poll_s)
    return busy


def run(threads: int, launcher: list[str], copies: int, folder: Path) -> tuple[list, float, list]:
    """Train ``copies`` runs at once; return their epochs' seconds, the CPU seconds that other
    programs used meanwhile (all busy CPU time less these runs' own), and their records."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    outs = [folder / f"copy{i}.pt" for i in range(copies)]
    busy, ours = cpu_seconds()[1], children_cpu_seconds()
    runs = [
        subprocess.Popen([sys.executable, *launcher, *TRAIN, "--no-progress", "--out", str(out)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for out in outs
    ]  # fmt: skip
    for process in runs:
        _, stderr = process.communicate(timeout=1800)
        if process.returncode != 0:
            raise SystemExit(f"training failed:\n{stderr[-3000:]}")
    others = (cpu_seconds()[1] - busy) - (children_cpu_seconds() - ours)
    records = [json.loads(out.with_suffix(".json").read_text()) for out in outs]
    return [s for r in records for s in r["history"]["seconds"]], others, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--oversubscribed", action="store_true", help="add 2 x 2 threads")
    parser.add_argument(
        "--max-others", type=float, default=1.0, help="count a run only if other programs used "
        "fewer CPU seconds meanwhile",
    )  # fmt: skip
    args = parser.parse_args()
    configurations = {**CONFIGURATIONS, **(OVERSUBSCRIBED if args.oversubscribed else {})}
    results: dict[str, list[float]] = {name: [] for name in configurations}
    for _ in range(args.repeats):
        for name, (threads, launcher, copies) in configurations.items():
            busy = wait_until_idle()
            with tempfile.TemporaryDirectory() as folder:
                epochs, others, records = run(threads, launcher, copies, Path(folder))
            counted = others < args.max_others
            if counted:
                results[name] += epochs
            world = records[0].get("distributed", [{}])[-1].get("world_size", 1)
            print(f"{name}: epochs {', '.join(f'{s:.2f}' for s in epochs)} s (processes "
                  f"{world} x {copies}, threads each {records[0]['threads']}; CPUs {busy:.0f}% "
                  f"busy before, other programs {others:.1f} CPU s meanwhile"
                  f"{'' if counted else ': not counted'}; {records[0]['data']})",
                  flush=True)  # fmt: skip
    print("\n| configuration | s per epoch (median) | counted epochs (s) |\n| --- | ---: | --- |")
    for name, seconds in results.items():
        median = f"{statistics.median(seconds):.2f}" if seconds else "no quiet run"
        print(f"| {name} | {median} | {', '.join(f'{s:.2f}' for s in seconds)} |")


if __name__ == "__main__":
    main()
