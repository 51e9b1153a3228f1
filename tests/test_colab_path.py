"""The Colab path, without Colab and without the internet (`make colab-path`).

A Colab user has no checkout. The setup cell pip-installs the package from REPO_URL, the notebook
runs from a folder of its own, and `reference_checkpoint` downloads the checkpoints from
``{REPO_URL}/raw/{branch}/checkpoints/``. This test rebuilds that situation on localhost:

* the committed HEAD is cloned, and served over HTTP as ``http://127.0.0.1:PORT/repo``: a bare
  clone there answers git's (dumb) HTTP protocol, so ``pip install "git+{REPO_URL}"`` works, and
  ``/repo/raw/main/`` holds its files, the layout of GitHub's raw downloads;
* a fresh virtual environment stands in for Colab's Python: the packages Colab ships (torch,
  ipywidgets, ...) are visible through a folder of links to .venv's packages, leaving out
  vae_tutorial itself, which cannot be imported there until the setup cell installs it;
* two chapters of the clone run in that environment from an empty folder, with an empty HOME,
  with ``google.colab`` in sys.modules (so the setup cell's ``%pip install`` runs) and REPO_URL
  rewritten to the local server: chapter 13 trains, chapter 8 loads reference checkpoints;
* an audit hook in the kernel records every file opened inside the checkout, and the test fails
  if there is one, if vae_tutorial was imported from anywhere but the new environment, or if the
  server did not serve the package and the checkpoints.

Only the git URL and the HTTP server differ from Colab; pip runs with --no-index and without
build isolation, so that nothing is fetched from an index.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.colab

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
# chapter 13 trains small models (and loads mnist_vae20); chapter 8 loads reference checkpoints
# (and, in its box on the learned prior, two more and the records of their other seeds)
CHAPTERS = {
    "13_common_mistakes.ipynb": ["mnist_vae20"],
    "08_latent_space.ipynb": ["mnist_latent2", "mnist_vae20", "cmp_mlp_elbo_s0",
                              "cmp_mlp_mixture_s0"],
}
BRANCH = "main"

FIRST_CELL = """\
import sys, types
_colab = types.ModuleType("google.colab")  # the setup cell's Colab branch, with Colab's
_WIDGET_MANAGER = []  # output.enable_custom_widget_manager(), recorded
_colab.output = types.SimpleNamespace(
    enable_custom_widget_manager=lambda: _WIDGET_MANAGER.append(True))
try:
    import google  # a namespace package (protobuf's) may exist; google.colab comes from below
except ImportError:
    sys.modules["google"] = types.ModuleType("google")
sys.modules["google.colab"] = _colab
_CHECKOUT = {checkout!r}
_PREINSTALLED = {preinstalled!r}  # the stand-ins for Colab's packages (matplotlib's fonts, ...)
_OPENED_IN_CHECKOUT = []

def _audit(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        path = args[0].decode() if isinstance(args[0], bytes) else args[0]
        import os.path
        path = os.path.abspath(path)
        if path.startswith(_CHECKOUT) and not path.startswith(_PREINSTALLED):
            _OPENED_IN_CHECKOUT.append(path)

sys.addaudithook(_audit)
"""

LAST_CELL = """\
import json, os, sys
import vae_tutorial
_checkout_modules = sorted(
    name for name, m in list(sys.modules.items())
    if (getattr(m, "__file__", None) or "").startswith(_CHECKOUT)
)
print("REPORT " + json.dumps({
    "prefix": sys.prefix,
    "vae_tutorial": vae_tutorial.__file__,
    "cwd": os.getcwd(),
    "opened_in_checkout": _OPENED_IN_CHECKOUT,
    "modules_from_checkout": _checkout_modules,
    "widget_manager_enabled": bool(_WIDGET_MANAGER),
}))
"""

DRIVER = """\
import sys
import nbclient
import nbformat

nb = nbformat.read(sys.argv[1], as_version=4)
client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                 resources={"metadata": {"path": sys.argv[2]}})
client.execute()
nbformat.write(nb, sys.argv[3])
"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        self.requests.append(self.path)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The committed HEAD, served as a git repository and as raw files under /repo."""
    www = tmp_path_factory.mktemp("www")
    bare = www / "repo"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(bare)], check=True)
    subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
    files = tmp_path_factory.mktemp("raw") / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(bare), str(files)], check=True)
    (bare / "raw").mkdir()
    (bare / "raw" / BRANCH).symlink_to(files)
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(www))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/repo", files, requests
    httpd.shutdown()


@pytest.fixture(scope="module")
def colab_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new environment that sees the book's dependencies but not vae_tutorial."""
    venv = tmp_path_factory.mktemp("colab") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    links = venv.parent / "preinstalled"
    links.mkdir()
    for folder in sorted(_preinstalled()):
        for entry in Path(folder).iterdir():
            name = entry.name
            if (name.startswith(("vae_tutorial", "__editable__", "_vae_tutorial"))
                    or name.endswith(".pth") or name == "__pycache__"
                    or (links / name).exists()):
                continue
            (links / name).symlink_to(entry)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    (Path(site) / "preinstalled.pth").write_text(f"{links}\n")
    return python


def _preinstalled() -> set[str]:
    """The folders of .venv's packages, which stand in for the packages Colab ships."""
    return {str(Path(sysconfig.get_paths()[k]).resolve()) + os.sep for k in ("purelib", "platlib")}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV"}}
    env.update(HOME=str(home), PIP_NO_INDEX="1", OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"))
    # pip reads PIP_NO_BUILD_ISOLATION backwards: a false value turns build isolation off.
    env["PIP_NO_BUILD_ISOLATION"] = "0"
    env.pop("VAE_TUTORIAL_DATA", None)
    if (SHARED_DATA / "MNIST" / "raw").is_dir():
        env["VAE_TUTORIAL_DATA"] = str(SHARED_DATA)
    else:
        env["VAE_TUTORIAL_OFFLINE"] = "1"
    return env


def test_vae_tutorial_is_not_importable_before_the_setup_cell(colab_python: Path) -> None:
    result = subprocess.run([str(colab_python), "-c", "import vae_tutorial"],
                            capture_output=True, text=True, cwd=colab_python.parent,
                            env=_env(colab_python.parent))
    assert "No module named 'vae_tutorial'" in result.stderr
    check = subprocess.run([str(colab_python), "-c", "import torch, ipywidgets, nbclient, pip"],
                           capture_output=True, text=True, env=_env(colab_python.parent))
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_chapter_runs_as_in_colab(chapter: str, server, colab_python: Path,
                                  tmp_path: Path) -> None:
    url, files, requests = server
    nb = json.loads((files / "chapters" / chapter).read_text())
    setup = next(c for c in nb["cells"] if c["cell_type"] == "code")
    source = "".join(setup["source"])
    source, n = re.subn(r'^REPO_URL = "[^"]+"', f'REPO_URL = "{url}"', source, flags=re.M)
    assert n == 1, "the setup cell must define REPO_URL once"
    setup["source"] = source
    checkout = str(ROOT) + os.sep
    cell = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None}
    nb["cells"].insert(0, {**cell, "source": FIRST_CELL.format(
        checkout=checkout, preinstalled=tuple(_preinstalled()))})
    nb["cells"].append({**cell, "source": LAST_CELL})

    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    (tmp_path / "in.ipynb").write_text(json.dumps(nb))
    (tmp_path / "driver.py").write_text(DRIVER)
    start = len(requests)
    result = subprocess.run(
        [str(colab_python), str(tmp_path / "driver.py"), str(tmp_path / "in.ipynb"),
         str(work), str(tmp_path / "out.ipynb")],
        cwd=work, env=_env(home), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    out = json.loads((tmp_path / "out.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for o in out["cells"][-1]["outputs"])
    report = json.loads(text.split("REPORT ", 1)[1])
    venv = str(colab_python.parent.parent)
    assert report["prefix"] == venv
    assert report["vae_tutorial"].startswith(venv + os.sep), report["vae_tutorial"]
    assert not (Path(report["vae_tutorial"]).parent.parent / "checkpoints").exists()
    assert report["opened_in_checkout"] == [], "files of the checkout were opened"
    assert report["modules_from_checkout"] == []
    assert report["widget_manager_enabled"], "the setup cell did not enable Colab's widget manager"
    served = requests[start:]
    assert any(r.startswith("/repo/info/refs") for r in served), "pip did not clone from REPO_URL"
    for name in CHAPTERS[chapter]:
        for suffix in (".pt", ".json"):
            assert f"/repo/raw/{BRANCH}/checkpoints/{name}{suffix}" in served
            assert (home / ".cache" / "vae_tutorial" / f"{name}{suffix}").is_file()
    assert not (work / "checkpoints").exists()
