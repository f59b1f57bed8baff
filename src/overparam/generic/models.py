"""Resolving the model a probe spec names, and the built-in models.

``"module:attribute"`` is imported (user code only when imports were allowed, see
``spec.jax_model``); ``"python:<name>"`` is a function pair registered in this process by
:func:`register` (what ``overparam.probe`` does with the functions it is handed).
A model is ``apply(params, X) -> outputs`` (params a pytree) with ``init(key) -> params``.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from overparam.errors import SpecError

Apply = Callable[[Any, Any], Any]
Init = Callable[[Any], Any]

_registered: dict[str, tuple[Apply, Init]] = {}


def fingerprint(fn: Callable, depth: int = 0) -> str:
    """A short digest of a function's code (source when available, else bytecode and
    constants) and of the values it closes over: two runs share an id only when they would
    compute the same thing."""
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        text = repr((code.co_code, code.co_consts)) if code is not None else repr(fn)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            text += _digest(cell.cell_contents, depth)
        except ValueError:  # an empty cell
            pass
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _digest(value: Any, depth: int) -> str:
    """A closed-over value's digest: arrays by their bytes, functions by their fingerprint
    (three levels deep), anything else by its repr."""
    import numpy as np

    if callable(value) and depth < 3:
        return fingerprint(value, depth + 1)
    if hasattr(value, "__array__") or isinstance(value, np.ndarray):
        arr = np.asarray(value)
        return f"{arr.dtype}{arr.shape}" + hashlib.sha256(arr.tobytes()).hexdigest()
    return repr(value)


def register(apply: Apply, init: Init) -> str:
    """Register a model pair under a name derived from its code; returns ``python:<name>``."""
    name = f"{getattr(apply, '__name__', 'model')}-{fingerprint(apply)}-{fingerprint(init)}"
    _registered[name] = (apply, init)
    return f"python:{name}"


def _import(ref: str, field: str) -> Any:
    module, _, attr = ref.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        raise SpecError(field, f"cannot import {module!r} ({exc})") from None
    except AttributeError:
        raise SpecError(field, f"{module!r} has no attribute {attr!r}") from None
    if not callable(obj):
        raise SpecError(field, f"{ref!r} is not callable")
    return obj


def resolve(problem: Any) -> tuple[Apply, Init]:
    """The (apply, init) pair of a validated ``jax_model`` problem."""
    ref = problem.model
    if ref.startswith("python:"):
        try:
            return _registered[ref[len("python:"):]]
        except KeyError:
            raise SpecError("problem.model", f"{ref!r} is not registered in this process "
                            "(functions handed to overparam.probe live only in the process "
                            "that registered them)") from None
    obj = _import(ref, "problem.model")
    if problem.init is None:
        try:
            pair = obj(**problem.model_args)
        except TypeError as exc:
            raise SpecError("problem.model_args", f"{ref}: {exc}") from None
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(map(callable, pair))):
            raise SpecError("problem.model", f"{ref!r} with init unset must return "
                            "(apply, init); or name init")
        return pair
    if problem.model_args:
        raise SpecError("problem.model_args", "model_args are for a factory (init unset)")
    return obj, _import(problem.init, "problem.init")


ACTIVATIONS = ("tanh", "relu", "elu", "gelu", "softplus", "linear")


def mlp(widths: list[int], outputs: int | None = None, activation: str = "tanh",
        bias: bool = True, scale: str = "lecun") -> tuple[Apply, Init]:
    """A fully connected network ``widths[0] → … → widths[-1]`` (inputs first, outputs
    last), ``activation`` between layers, LeCun-normal weights (std 1/√fan_in), zero biases.
    X holds samples as rows; the output is (samples, widths[-1])."""
    import jax
    import jax.numpy as jnp

    from overparam import _jax  # noqa: F401  (float64)

    if outputs is not None:
        widths = [*widths, outputs]
    if len(widths) < 2 or any(int(w) < 1 for w in widths):
        raise SpecError("problem.model_args.widths", "give at least inputs and outputs, "
                        "each >= 1")
    if activation not in ACTIVATIONS:
        raise SpecError("problem.model_args.activation",
                        f"one of {', '.join(ACTIVATIONS)} (got {activation})")
    if scale not in ("lecun", "standard"):
        raise SpecError("problem.model_args.scale", "lecun or standard")
    act = {"tanh": jnp.tanh, "relu": jax.nn.relu, "elu": jax.nn.elu, "gelu": jax.nn.gelu,
           "softplus": jax.nn.softplus, "linear": lambda z: z}[activation]

    def init(key):
        params = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            std = 1.0 / jnp.sqrt(a) if scale == "lecun" else 1.0
            W = std * jax.random.normal(jax.random.fold_in(key, i), (a, b), jnp.float64)
            params.append({"W": W, "b": jnp.zeros(b)} if bias else {"W": W})
        return params

    def apply(params, X):
        h = X
        for i, layer in enumerate(params):
            h = h @ layer["W"] + (layer["b"] if bias else 0.0)
            if i < len(params) - 1:
                h = act(h)
        return h

    return apply, init
