"""Point every chapter at the repository named in ``_config.yml`` (``repository.url``).

A fork of the book changes that one line and runs ``python tools/set_repository.py``: it rewrites
the places that must hold the URL before the package is installed, which are each chapter's setup
cell (``REPO_URL = "..."``, from which Colab pip-installs the package and fetches the reference
checkpoints) and each chapter's "open this chapter in Colab" link. ``tests/test_book.py`` checks
that they all agree with ``_config.yml``. Outputs are left as they are; only sources change.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REPO_LINE = re.compile(r'^REPO_URL = "[^"]*"', re.MULTILINE)
COLAB_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/[^/\s]+/[^/\s]+/blob/[^/\s]+/"
)


def colab_prefix(repository_url: str, branch: str) -> str:
    """``https://colab.research.google.com/github/OWNER/REPO/blob/BRANCH/`` for a GitHub URL."""
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", repository_url)
    if not match:
        raise ValueError(
            f"repository.url must be https://github.com/OWNER/REPO, got {repository_url}"
        )
    return f"https://colab.research.google.com/github/{match[1]}/{match[2]}/blob/{branch}/"


def main() -> int:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    url = config["repository"]["url"]
    prefix = colab_prefix(url, config["repository"].get("branch", "main"))
    changed = 0
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        for cell in notebook["cells"]:
            source = "".join(cell["source"])
            new = REPO_LINE.sub(f'REPO_URL = "{url}"', source)
            new = COLAB_LINK.sub(prefix, new)
            if new != source:
                cell["source"] = new.splitlines(keepends=True)
                changed += 1
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{url}: {changed} cells updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
