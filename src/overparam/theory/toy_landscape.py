"""Paper A's toy landscape L(x1, x2) = ½(x1x2 − 1)² (Prop. 2.1, App. B): its local PL and
smoothness constants, exact and as printed (eq 59, docs/errata.md)."""

from __future__ import annotations

import numpy as np

ArrayLike = np.ndarray | float


def toy_ell(x: ArrayLike) -> np.ndarray:
    """The toy loss before overparametrization, ℓ(x) = ½(x − 1)² (eq 57): strongly convex and
    smooth with µ = K = 1; the toy loss below is ℓ(x1x2)."""
    return 0.5 * (np.asarray(x, dtype=np.float64) - 1.0) ** 2


def toy_loss(x1: ArrayLike, x2: ArrayLike) -> np.ndarray:
    """Overparametrized toy loss L(x1, x2) = ½(x1x2 − 1)² (eq 58)."""
    return 0.5 * (np.asarray(x1) * np.asarray(x2) - 1.0) ** 2


def toy_mu_over(x1: ArrayLike, x2: ArrayLike) -> np.ndarray:
    """Local PL constant µ_over = ‖∇L‖²/(2L) = x1² + x2² (eq 59)."""
    return np.asarray(x1) ** 2 + np.asarray(x2) ** 2


def toy_hessian(x1: ArrayLike, x2: ArrayLike) -> np.ndarray:
    """Hessian [[x2², 2x1x2 − 1], [2x1x2 − 1, x1²]] of the toy loss, shape (..., 2, 2) (App. B)."""
    x1, x2 = np.broadcast_arrays(np.asarray(x1, dtype=np.float64), np.asarray(x2, dtype=np.float64))
    b = 2.0 * x1 * x2 - 1.0
    return np.stack([np.stack([x2**2, b], -1), np.stack([b, x1**2], -1)], -2)


def toy_K_over_exact(x1: ArrayLike, x2: ArrayLike) -> np.ndarray:
    """True K_over = λ_max(∇²L) = [x1² + x2² + √((x2² − x1²)² + 4(2x1x2 − 1)²)]/2 (corrects eq 59)."""
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    return 0.5 * (x1**2 + x2**2 + np.hypot(x2**2 - x1**2, 2.0 * (2.0 * x1 * x2 - 1.0)))


def toy_K_over_printed(x1: ArrayLike, x2: ArrayLike) -> np.ndarray:
    """Printed eq 59: [x1² + x2² + √((x1² + x2²)² − 4x1²x2² + (2x1x2 − 1)²)]/2 (erratum: factor 4 missing)."""
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    s = x1**2 + x2**2
    return 0.5 * (s + np.sqrt(s**2 - 4.0 * x1**2 * x2**2 + (2.0 * x1 * x2 - 1.0) ** 2))
