"""Prove that a change to the model's code leaves every committed checkpoint's numbers bit for bit.

For each VAE in ``checkpoints/*.pt`` with the standard normal prior (the judge, a classifier, and
learned-prior models, which a base before the prior module cannot build, are skipped) the same
computations run twice, in two fresh processes: once with the package as it was at a base commit
(extracted with ``git archive`` into a temporary folder) and once with the working tree's
package. Each process computes, on one thread and from fixed seeds:

- ``VAE.loss`` on fixed batches of test digits: the negative ELBO (two seeds), β and free bits
  (``kl_weight=0.5, free_bits=0.2``), and -L_5 (``importance_samples=5``), each with its
  reconstruction and KL, and the gradient of every parameter for the first;
- the importance-weighted bound ``log_likelihood`` at k = 1, 10 and 100 on the first test digits,
  and their ``kl_per_dimension`` and ``active_units``;
- ``sample_means`` and ``sample`` from seeded generators.

Every tensor must be ``torch.equal`` across the two versions. Written for issue 39 (the prior as
one module, whose default, N(0, I), must change no number); usable for any change that should
not move a number: ``python tools/prior_identity.py --base <commit>``.

Run it niced on a busy machine (about 5 minutes on one core with the defaults)::

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python tools/prior_identity.py --base e69b99a
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
KS = (1, 10, 100)


def _vae_checkpoints() -> list[Path]:
    """The committed checkpoints that hold a VAE (a ``model_config``) with the standard normal
    prior: not the judge, and not a learned-prior model, which a base from before the prior
    module cannot build."""
    paths = sorted((ROOT / "checkpoints").glob("*.pt"))
    configs = {p: torch.load(p, map_location="cpu").get("model_config") for p in paths}
    return [p for p, c in configs.items() if c is not None and c.get("prior", "normal") == "normal"]


def _loss_entries(model: Any, batch: Any, prefix: str) -> dict[str, torch.Tensor]:
    """The loss and its parts under each objective, and the gradients of the first."""
    out: dict[str, torch.Tensor] = {}
    settings = {
        "elbo_seed0": ({}, 0),
        "elbo_seed1": ({}, 1),
        "beta_free_bits": ({"kl_weight": 0.5, "free_bits": 0.2}, 2),
        "iw5": ({"importance_samples": 5}, 3),
    }
    for name, (kwargs, seed) in settings.items():
        model.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        parts = model.loss(batch, **kwargs)
        for field in ("loss", "reconstruction", "kl"):
            out[f"{prefix}{name}.{field}"] = getattr(parts, field).detach().clone()
        if name == "elbo_seed0":
            parts.loss.backward()
            for param_name, param in model.named_parameters():
                out[f"{prefix}{name}.grad.{param_name}"] = param.grad.detach().clone()
    model.zero_grad(set_to_none=True)
    return out


def _worker(inputs_path: Path, out_path: Path, expect_root: Path) -> None:
    """Run in a fresh process whose ``vae_tutorial`` is the version under test."""
    import vae_tutorial
    from vae_tutorial.data import Batch
    from vae_tutorial.evaluate import active_units, kl_per_dimension, log_likelihood
    from vae_tutorial.train import load_model

    here = Path(vae_tutorial.__file__).resolve()
    if expect_root.resolve() not in here.parents:
        raise SystemExit(f"imported {here}, expected the package under {expect_root}")
    torch.set_num_threads(1)
    inputs = torch.load(inputs_path)
    images, labels = inputs["images"], inputs["labels"]
    x = torch.bernoulli(
        images[:100].reshape(100, -1).float() / 255, generator=torch.Generator().manual_seed(7)
    )
    results: dict[str, torch.Tensor] = {}
    for name in inputs["checkpoints"]:
        model = load_model(ROOT / "checkpoints" / f"{name}.pt").eval()
        conditional = bool(model.config.n_classes)
        y = labels[:100] if conditional else None
        results.update(_loss_entries(model, Batch(x, x, y), f"{name}."))
        known = labels if conditional else None
        for k in KS:
            results[f"{name}.L_{k}"] = log_likelihood(model, images, k, labels=known)
        results[f"{name}.kl_per_dimension"] = kl_per_dimension(model, images, labels=known)
        results[f"{name}.activity"] = active_units(model, images, labels=known)[1]
        results[f"{name}.sample_means"] = model.sample_means(
            64, torch.Generator().manual_seed(0)
        )
        results[f"{name}.sample"] = model.sample(16, torch.Generator().manual_seed(1))
        print(f"  {name}: {len(results)} tensors so far", flush=True)
    torch.save(results, out_path)


def _run_version(
    package_root: Path, inputs: Path, out: Path, label: str
) -> dict[str, torch.Tensor]:
    env = {**os.environ, "PYTHONPATH": str(package_root), "OMP_NUM_THREADS": "1"}
    print(f"{label}: the package under {package_root}", flush=True)
    command = [sys.executable, __file__, "--worker", str(inputs), str(out), str(package_root)]
    subprocess.run(command, env=env, check=True)
    return torch.load(out)


def _test_digits(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    from vae_tutorial.data import default_data_root, load_mnist

    data = load_mnist(default_data_root())
    return data.test_images[:n].clone(), data.test_labels[:n].clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="e69b99a", help="the commit whose numbers must hold")
    parser.add_argument("--digits", type=int, default=200, help="test digits for L_k")
    parser.add_argument("--checkpoints", nargs="*", help="names (default: every VAE checkpoint)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(Path(args.worker[0]), Path(args.worker[1]), Path(args.worker[2]))
        return
    names = args.checkpoints or [p.stem for p in _vae_checkpoints()]
    images, labels = _test_digits(args.digits)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.base, "vae_tutorial"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        (tmp / "base.tar").write_bytes(archive)
        with tarfile.open(tmp / "base.tar") as tar:
            tar.extractall(tmp / "base", filter="data")
        inputs = tmp / "inputs.pt"
        torch.save({"images": images, "labels": labels, "checkpoints": names}, inputs)
        before = _run_version(tmp / "base", inputs, tmp / "before.pt", f"base {args.base}")
        after = _run_version(ROOT, inputs, tmp / "after.pt", "working tree")
    if before.keys() != after.keys():
        raise SystemExit(f"different results computed: {sorted(before.keys() ^ after.keys())}")
    differ = [key for key in before if not torch.equal(before[key], after[key])]
    for name in names:
        mine = [key for key in before if key.startswith(f"{name}.")]
        bad = [key for key in differ if key.startswith(f"{name}.")]
        bounds = ", ".join(f"L_{k} {after[f'{name}.L_{k}'].mean():.4f}" for k in KS)
        print(f"{name:<20} {len(mine):>3} tensors, {len(bad)} differ; {bounds}")
    if differ:
        raise SystemExit(f"{len(differ)} tensors differ, first: {differ[:5]}")
    print(f"All {len(before)} tensors of {len(names)} checkpoints are bit for bit those of "
          f"{args.base} ({args.digits} test digits, k in {KS}).")


if __name__ == "__main__":
    main()
