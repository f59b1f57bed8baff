"""Configure JAX once for the whole package: float64 everywhere, CPU unless asked otherwise."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", os.environ.get("OVERPARAM_PLATFORM", "cpu"))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

__all__ = ["jax"]
