"""keep_freed_memory: a training step whose activations exceed glibc's mmap threshold stops
faulting in fresh pages, and the numbers it computes do not change."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from vae_tutorial.allocator import keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Five Adam steps of a small convolutional VAE on -L_50 with 32 digits: 1,600 decoded rows of
# 32 x 14 x 14 maps, 40 MB per activation, above the 32 MB where glibc's malloc always mmaps.
STEPS = """
import json, resource, sys, torch
from vae_tutorial.allocator import keep_freed_memory
from vae_tutorial.model import VAEConfig
from vae_tutorial.variants import build_model
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.manual_seed(0)
torch.set_num_threads(1)
model = build_model(VAEConfig(latent_dim=4, hidden_dims=(32, 8), architecture="conv"))
optimizer = torch.optim.Adam(model.parameters())
x = torch.bernoulli(torch.full((32, 784), 0.2))
def step():
    loss = model.loss(x, importance_samples=50).loss
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    return loss.item()
step()  # the first step grows the heap
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
losses = [step() for _ in range(4)]
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({"kept": kept, "faults_per_step": faults / 4, "losses": losses}))
"""


def _steps(mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", STEPS, mode], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_kept_memory_stops_the_page_faults_and_changes_no_number() -> None:
    default, kept = _steps("default"), _steps("keep")
    assert not default["kept"] and kept["kept"]
    pages_per_activation = 1600 * 32 * 14 * 14 * 4 / 4096
    assert default["faults_per_step"] > pages_per_activation  # fresh pages on every step
    assert kept["faults_per_step"] < 0.1 * default["faults_per_step"]
    assert kept["losses"] == default["losses"]


def test_elsewhere_it_says_it_did_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert keep_freed_memory() is False
