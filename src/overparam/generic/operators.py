"""Matrix-free curvature and tangent-kernel operators of any JAX model, for the Lanczos,
SLQ and Hutchinson estimates of ``overparam.numerics.lanczos``.

A model is ``f(params, x) -> outputs`` with ``params`` a pytree; ``flatten`` turns the params
into one vector w ∈ R^P (and back), so the operators act on R^P or R^m:

* **Hessian** ``hvp(loss_of_w, w)``: v ↦ ∇²L(w) v by forward-over-reverse differentiation,
  ``jax.jvp(jax.grad(L), (w,), (v,))``; a dense Hessian is never formed. One product costs a
  small multiple of a gradient (2–4 by operation count; about 1.3 gradients of wall-clock time
  measured on an 85k-parameter tanh MLP on the CPU). Each product recomputes the gradient's
  passes rather than holding a linearization's residuals through a Lanczos loop, which was
  no faster there and holds that memory for the whole loop.
* **Curvature along a direction** ``curvature_along``: ⟨g, ∇²L g⟩/‖g‖², the second derivative
  of L along the unit vector g/‖g‖ (for g = ∇L, the curvature along the gradient step). One
  forward-over-reverse product. g = 0 gives 0/0 = NaN, as the families' ``curvature`` column.
* **Tangent kernel** ``ntk_matvec(model_of_w, w)``: the Gram matrix K = J Jᵀ ∈ R^{m×m} of the
  Jacobian J = ∂ vec f(w)/∂w, with m = samples × outputs (row-major flattening of the
  outputs, sample index slowest). u ↦ J (Jᵀ u): one ``jax.vjp`` and one ``jax.jvp`` of the
  model per product; J is never formed. No normalization (divide by the sample count where a
  theory's NTK carries 1/n).
* ``ntk_dense``: K from the explicit Jacobian (``jax.jacrev`` when m ≤ P, else ``jax.jacfwd``),
  for small sizes. Its memory is ``jacobian_bytes(P, m)`` = (P·m + m²)·8 bytes (J and K);
  the rule ``jacobian_fits(P, m, limit_bytes)`` is that figure ≤ the limit the caller passes
  (the memory guard's budget). Above it, use ``ntk_matvec`` with Lanczos: k products cost
  k (vjp + jvp) pairs, and memory O(P + m) beyond one product's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from overparam import _jax  # noqa: F401  (float64)

Matvec = Callable[[jax.Array], jax.Array]

#: Bytes of one float64 entry (the dense rule's default).
FLOAT64_BYTES = 8


def flatten(params: Any) -> tuple[jax.Array, Callable[[jax.Array], Any]]:
    """The params pytree as one vector w and the function that rebuilds the pytree from w."""
    return ravel_pytree(params)


def hvp(loss_of_w: Callable[[jax.Array], jax.Array], w: jax.Array) -> Matvec:
    """The Hessian-vector product v ↦ ∇²L(w) v (forward-over-reverse, no dense Hessian)."""
    grad = jax.grad(loss_of_w)

    def matvec(v: jax.Array) -> jax.Array:
        return jax.jvp(grad, (w,), (v,))[1]

    return matvec


def curvature_along(loss_of_w: Callable[[jax.Array], jax.Array], w: jax.Array,
                    g: jax.Array) -> jax.Array:
    """⟨g, ∇²L(w) g⟩ / ‖g‖² from one forward-over-reverse product (NaN for g = 0)."""
    _, hg = jax.jvp(jax.grad(loss_of_w), (w,), (g,))
    return jnp.vdot(g, hg) / jnp.vdot(g, g)


def _vec_model(model_of_w: Callable[[jax.Array], Any]) -> Callable[[jax.Array], jax.Array]:
    """The model's outputs as one vector (row-major)."""
    return lambda w: jnp.ravel(jnp.asarray(model_of_w(w)))


def ntk_matvec(model_of_w: Callable[[jax.Array], Any], w: jax.Array) -> Matvec:
    """u ↦ J Jᵀ u on R^m with J = ∂ vec f(w)/∂w: one vjp and one jvp of the model per
    product, no Jacobian formed."""
    f = _vec_model(model_of_w)

    def matvec(u: jax.Array) -> jax.Array:
        _, vjp = jax.vjp(f, w)
        (wbar,) = vjp(u)
        return jax.jvp(f, (w,), (wbar,))[1]

    return matvec


def n_outputs(model_of_w: Callable[[jax.Array], Any], w: jax.Array) -> int:
    """m, the number of output entries of the model at w (shape inference only, no compute)."""
    out = jax.eval_shape(_vec_model(model_of_w), w)
    return int(out.shape[0])


def jacobian(model_of_w: Callable[[jax.Array], Any], w: jax.Array) -> jax.Array:
    """The explicit Jacobian J [m, P]: reverse mode when m ≤ P, forward mode otherwise."""
    f = _vec_model(model_of_w)
    mode = jax.jacrev if n_outputs(model_of_w, w) <= w.shape[-1] else jax.jacfwd
    return mode(f)(w)


def ntk_dense(model_of_w: Callable[[jax.Array], Any], w: jax.Array) -> jax.Array:
    """The Gram matrix J Jᵀ [m, m] from the explicit Jacobian (small sizes only)."""
    J = jacobian(model_of_w, w)
    return J @ J.T


def jacobian_bytes(n_params: int, n_out: int, itemsize: int = FLOAT64_BYTES) -> int:
    """Bytes of the dense NTK path: the Jacobian (P·m) and the Gram matrix (m²)."""
    return (int(n_params) * int(n_out) + int(n_out) ** 2) * int(itemsize)


def jacobian_fits(n_params: int, n_out: int, limit_bytes: int,
                  itemsize: int = FLOAT64_BYTES) -> bool:
    """Whether the dense NTK path fits ``limit_bytes`` (else use ``ntk_matvec`` with Lanczos)."""
    return jacobian_bytes(n_params, n_out, itemsize) <= int(limit_bytes)
