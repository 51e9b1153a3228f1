"""What every exercise check shares: the error it raises, fresh inputs, and the comparisons.

A check runs the student's function on fresh inputs and compares the result with a reference;
each known mistake gets its own hint. Once the main case passes, a per-example check also runs
the edge cases of :func:`_edge_inputs` (:func:`_main_then_edge_cases`). On success it prints one
line; otherwise it raises :class:`ExerciseError` with a message that says what to change.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class ExerciseError(AssertionError):
    """A student's answer is not right yet; the message says why."""


def _sample_digits(seed: int = 0, n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    images[torch.rand(n, 28, 28, generator=g) < 0.8] = 0  # mostly blank, like MNIST
    labels = torch.arange(n) % 10
    return images, labels[torch.randperm(n, generator=g)]


def _as_tensor(value: object, what: str) -> torch.Tensor:
    if value is None:
        raise ExerciseError(f"{what} returned None: did you forget the return statement?")
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return a torch.Tensor, got {type(value).__name__}.")
    if not value.is_floating_point():  # integers compare as numbers: the hints name the mistake
        return value.double()
    return value


def _number(value: object, what: str) -> float:
    """A plain number from a float, an int or a one-element tensor; anything else is a mistake
    the message names (a forgotten return, a string)."""
    if value is None:
        raise ExerciseError(f"{what} returned None: did you forget the return statement?")
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExerciseError(
            f"{what} should return a number, got {type(value).__name__} {value!r:.40}."
        )
    return float(value)


def requires_function(check: Callable[..., None]) -> Callable[..., None]:
    """Wrap an exercise check so that passing something other than a function (``None``, the
    result of calling it) gets a message, not a bare ``TypeError`` from inside the check."""
    import functools

    @functools.wraps(check)
    def checked(fn: object, *args: object, **kwargs: object) -> None:
        if not callable(fn):
            raise ExerciseError(
                f"{check.__name__} takes your function itself, got {type(fn).__name__} "
                f"{fn!r:.40}: pass the name without calling it, e.g. {check.__name__}(my_function)."
            )
        return check(fn, *args, **kwargs)

    return checked


def _close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    return got.shape == want.shape and torch.allclose(
        got.double(), want.double(), rtol=rtol, atol=atol
    )


def _shape(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    if got.shape != want.shape:
        raise ExerciseError(f"{what}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}.")


# Edge cases every per-example check runs once the main case passes: a batch of one, and
# log-variances far from 0 (a collapsed dimension's, and an exploding one's).
_EDGE_LOG_VARS = ((0.0, "mean = 0, log_var = 0"), (1.0, "mean = 0, log_var = 1"),
                  (-20.0, "log_var = -20"), (20.0, "log_var = 20"))  # fmt: skip


def _edge_inputs() -> list[tuple[torch.Tensor, torch.Tensor, str]]:
    """(mean, log_var, description): one example of 3 dimensions each, float64."""
    cases = [
        (torch.zeros(1, 3, dtype=torch.float64), torch.full((1, 3), v, dtype=torch.float64), what)
        for v, what in _EDGE_LOG_VARS
    ]
    g = torch.Generator().manual_seed(5)
    mean, log_var = (torch.randn(1, 3, generator=g, dtype=torch.float64) for _ in range(2))
    cases.append((mean, log_var, "a batch of one"))
    return cases


def _main_then_edge_cases(
    main_case: Callable[[], None],
    edge_case: Callable[[torch.Tensor, torch.Tensor, str], None],
    success: str,
) -> None:
    """Run a per-example check: ``main_case()`` (it raises on a wrong answer, naming the mistake),
    then, once that passes, ``edge_case(mean, log_var, what)`` for each of :func:`_edge_inputs`,
    then print ``success``."""
    main_case()
    for mean, log_var, what in _edge_inputs():
        edge_case(mean, log_var, what)
    print(success)
