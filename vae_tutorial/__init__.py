"""Reusable code for *Variational Autoencoders, from the ELBO up*.

One definition of everything the chapters use: data, model, losses and bounds, training,
evaluation, plots and exercise checks. Chapters import it and show its source.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["device", "seed_everything", "show_source", "__version__"]
__version__ = "0.1.0"

_announced: set[str] = set()


def device(verbose: bool = True) -> torch.device:
    """Pick the fastest available device: CUDA, then Apple's MPS, then the CPU.

    The choice is printed once per process (``Using device: cpu``) so that every notebook
    shows where it ran.
    """
    if torch.cuda.is_available():
        chosen = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        chosen = torch.device("mps")
    else:
        chosen = torch.device("cpu")
    if verbose and chosen.type not in _announced:
        _announced.add(chosen.type)
        print(f"Using device: {chosen.type}")
    return chosen


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so that a run can be repeated.

    Returns a fresh CPU ``torch.Generator`` seeded with ``seed`` for code that wants its own
    random stream rather than the global one.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def show_source(obj: object, start: str | None = None, stop: str | None = None) -> object:
    """Render the source of a package function or class as a highlighted code block.

    Chapters call this instead of pasting code, so what the reader sees is what runs. With
    ``start`` and ``stop``, show only the lines from the first one containing ``start`` up to
    (not including) the next one containing ``stop``.
    """
    import inspect
    import textwrap

    from IPython.display import Markdown

    lines = textwrap.dedent(inspect.getsource(obj)).splitlines()
    first = next((i for i, line in enumerate(lines) if start in line), None) if start else 0
    if first is None:
        raise ValueError(f"{start!r} does not occur in the source of {obj!r}")
    last = (
        next((i for i in range(first + 1, len(lines)) if stop in lines[i]), None)
        if stop
        else len(lines)
    )
    if last is None:
        raise ValueError(f"{stop!r} does not occur after {start!r} in the source of {obj!r}")
    code = textwrap.dedent("\n".join(lines[first:last])).rstrip()
    return Markdown(f"```python\n{code}\n```")
