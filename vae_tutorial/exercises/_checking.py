"""What every exercise check shares: the error it raises, fresh inputs, and the comparisons.

A check runs the student's function on fresh inputs and compares the result with a reference;
each known mistake gets its own hint. Once the main case passes, a per-example check also runs
the edge cases of :func:`_edge_inputs` (:func:`_main_then_edge_cases`). On success it prints one
line; otherwise it raises :class:`ExerciseError` with a message that says what to change.

Every check draws its inputs from :func:`_generator`, so ``check(fn, seed=s)`` runs the same tests
on other random inputs (the hidden tests of a graded copy), and every check refuses the package's
own function for the exercise (:func:`_refuse_package_answer`).
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import inspect
import types
from collections.abc import Callable, Iterable

import torch

# The seed of the current check call (0: the inputs a chapter shows); see requires_function.
_SEED: contextvars.ContextVar[int] = contextvars.ContextVar("exercise_seed", default=0)


class ExerciseError(AssertionError):
    """A student's answer is not right yet; the message says why."""


def _generator(base: int) -> torch.Generator:
    """A generator seeded with ``base`` in a plain call, and with another seed for each
    ``seed=s`` of the call: the same tests on fresh random inputs."""
    return torch.Generator().manual_seed(base + 10_007 * _SEED.get())


def _sample_digits(seed: int = 0, n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = _generator(seed)
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


def _resolve(dotted: str) -> object:
    """The object named ``vae_tutorial.losses.gaussian_kl`` (a module prefix, then attributes)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _code_names(code: types.CodeType) -> set[str]:
    """The global and attribute names a function's code uses, nested functions included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def _attribute(obj: object, name: str) -> object:
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 (a module's lazy attribute may fail to load: not a use)
        return None


def _uses(fn: object, answers: dict[int, str]) -> str | None:
    """The dotted name of a package answer that ``fn`` is, or reaches through its globals,
    closures, module attributes (``losses.gaussian_kl``) or its own helper functions."""
    seen: set[int] = set()
    stack = [fn]
    while stack:
        f = stack.pop()
        while isinstance(f, functools.partial):
            f = f.func
        if id(f) in answers:
            return answers[id(f)]
        code = getattr(f, "__code__", None)
        if code is None or id(code) in seen:
            continue
        seen.add(id(code))
        names = _code_names(code)
        scope = getattr(f, "__globals__", {})
        values = [scope[n] for n in names if n in scope]
        values += [c.cell_contents for c in (getattr(f, "__closure__", None) or ())
                   if c.cell_contents is not None]  # fmt: skip
        frontier = values
        for _ in range(3):  # vae_tutorial.objective.free_bits_kl: three attribute steps at most
            found = next((answers[id(v)] for v in frontier if id(v) in answers), None)
            if found:
                return found
            frontier = [_attribute(v, n) for v in frontier for n in names
                        if inspect.ismodule(v) or isinstance(v, type)]  # fmt: skip
        stack += [v for v in values if isinstance(v, types.FunctionType)
                  and not v.__module__.startswith(("vae_tutorial", "torch"))]  # fmt: skip
    return None


def _refuse_package_answer(fn: object, answers: Iterable[str]) -> None:
    """Raise if ``fn`` is, or calls, the package's own version of the exercise's answer."""
    objects = {}
    for dotted in answers:
        obj = _resolve(dotted)
        objects[id(obj)] = dotted
        objects[id(getattr(obj, "__func__", obj))] = dotted
    used = _uses(fn, objects)
    if used:
        raise ExerciseError(
            f"Your function uses the package's own {used.rsplit('.', 1)[-1]} ({used}): that is "
            "the answer this exercise asks you to write. Write it yourself, from the formula."
        )


def requires_function(
    check: Callable[..., None], package_answers: tuple[str, ...] = ()
) -> Callable[..., None]:
    """Wrap an exercise check: passing something other than a function (``None``, the result of
    calling it) gets a message, not a bare ``TypeError`` from inside the check; a function that
    is or calls one of ``package_answers`` is refused; ``seed=s`` runs the check on other random
    inputs."""

    @functools.wraps(check)
    def checked(fn: object, *args: object, seed: int = 0, **kwargs: object) -> None:
        if not callable(fn):
            raise ExerciseError(
                f"{check.__name__} takes your function itself, got {type(fn).__name__} "
                f"{fn!r:.40}: pass the name without calling it, e.g. {check.__name__}(my_function)."
            )
        _refuse_package_answer(fn, package_answers)
        token = _SEED.set(seed)
        try:
            return check(fn, *args, **kwargs)
        finally:
            _SEED.reset(token)

    return checked


def _values(t: torch.Tensor) -> str:
    """At most three values of a tensor, to six significant digits."""
    flat = t.detach().double().flatten().tolist()
    shown = ", ".join(f"{v:.6g}" for v in flat[:3])
    return shown if len(flat) == 1 else f"[{shown}{', ...' if len(flat) > 3 else ''}]"


def _versus(got: torch.Tensor, want: torch.Tensor) -> str:
    """``Expected [..], got [..].``: at most three values of each."""
    return f"Expected {_values(want)}, got {_values(got)}."


def _likely_mistake(got: torch.Tensor, want: torch.Tensor, batch: int | None = None) -> str:
    """Name a sign, a factor of 2 (a missing or extra 1/2), a factor of the batch size (a sum over
    the batch) or a constant offset, and show expected against got."""
    g, w = got.detach().double(), want.detach().double()
    hint = ""
    if g.shape == w.shape:
        d = g - w
        if _close(g, -w):
            hint = "The sign is flipped. "
        elif _close(g, 2 * w):
            hint = "Twice the answer: a missing 1/2? "
        elif _close(g, w / 2):
            hint = "Half the answer: an extra 1/2? "
        elif batch and batch > 1 and _close(g, batch * w):
            hint = f"{batch} times the answer, the batch size: a sum over the batch, not a mean? "
        elif (
            d.numel() > 1
            and torch.isfinite(d).all()
            and d.abs().max() > 1e-6
            and (d - d.flatten()[0]).abs().max() < 1e-6
        ):
            c = d.flatten()[0].item()
            hint = f"Off by the same constant, {c:+.6g}, everywhere: a wrong constant term? "
    return hint + _versus(g, w)


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
    g = _generator(5)
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
