"""A small user model for the probe's tests: a module a spec names as "probe_models:apply"."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def apply(params, x):
    """A two-layer tanh network with biases; params a dict (a pytree)."""
    return jnp.tanh(x @ params["W1"] + params["b1"]) @ params["W2"]


def init(key):
    k1, k2 = jax.random.split(key)
    return {"W1": jax.random.normal(k1, (3, 6)) / jnp.sqrt(3.0), "b1": jnp.zeros(6),
            "W2": jax.random.normal(k2, (6, 2)) / jnp.sqrt(6.0)}
