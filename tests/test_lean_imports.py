"""A training run imports what it needs when it needs it: no torchvision, no plotting libraries.

torchvision alone adds about 170 MB to a process (benchmarks/README.md, "Peak memory of a training
run"), and only the download of MNIST needs it. Each check runs in a fresh interpreter, since this
test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("torchvision", "matplotlib", "seaborn", "sklearn", "scipy", "pandas")


def _heavy_modules_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``code`` in a new interpreter; return the heavy packages it left in ``sys.modules``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in "
    probe += f"sys.modules}} & set({list(HEAVY)!r}))))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_command_line_imports_no_heavy_package() -> None:
    assert _heavy_modules_after("import vae_tutorial.__main__, vae_tutorial.train") == []


def test_an_offline_training_run_never_imports_torchvision(tmp_path: Path) -> None:
    """The whole ``train`` command on an empty data root with the network down: the download is
    tried (no VAE_TUTORIAL_OFFLINE), finds no mirror, and the run trains on the offline fallback."""
    out = tmp_path / "tiny.pt"
    code = (
        "from pathlib import Path\n"
        "from vae_tutorial import data\n"
        "data._mirror_answers = lambda timeout_s: False  # the network is down\n"
        f"data._checkout_data_root = lambda: Path({str(tmp_path / 'empty')!r})  # the default\n"
        "from vae_tutorial.__main__ import main\n"
        f"main(['train', '--epochs', '1', '--latent-dim', '2', '--hidden-dims', '16', "
        f"'--batch-size', '500', '--no-progress', '--out', {str(out)!r}])\n"
    )
    env = {"PATH": "/usr/bin:/bin"}  # no VAE_TUTORIAL_DATA: the default root, which falls back
    assert _heavy_modules_after(code, env) == []
    assert out.is_file()
