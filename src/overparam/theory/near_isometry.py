"""Paper B's constants: Lemma 3's µ_Φ, ν_Φ, β_Φ, the radius ρ_Φ (6), condition (9), the step
size (13), the rate (14), the path-length bound (33), the lazy-training ratio of (82), and
App. E's order analysis: the lower bound (68) on µ_Φ and the width requirement (77)–(80).

The universal constants C of the theorems are unspecified in the paper; every function
takes them as arguments (default 1) and the run records say which were used.
"""

from __future__ import annotations

import numpy as np

from overparam.numerics import hermite


def loss_constants(loss: str, n: int, d2: int) -> tuple[float, float]:
    """(α_f, β_f) of f(Z) = ‖Z − Y‖²_F (sum: 2, 2) or its mean over n·d2 entries."""
    scale = 1.0 if loss == "sum" else 1.0 / (n * d2)
    return 2.0 * scale, 2.0 * scale


def chi_in_ball(s_v0: float, mu: float, sigma_x: float, dphi: float, ddphi: float) -> float:
    """σ_max(V) ≤ σ_max(V0) + ρ_Φ inside ball(w0, ρ_Φ), with ρ_Φ = µ/(2β_Φ(χ)): the χ solving
    χ = s + µ/(2√2 σ_X (φ'max + φ''max χ)), the root of a quadratic."""
    a, b = dphi, ddphi
    q = mu / (2.0 * np.sqrt(2.0) * sigma_x)
    if b == 0.0:
        return s_v0 + q / a
    if not np.isfinite(b):
        return s_v0
    lin = a - b * s_v0
    return float((-lin + np.sqrt(lin * lin + 4.0 * b * (a * s_v0 + q))) / (2.0 * b))


def lemma3(phi0: np.ndarray, X: np.ndarray, V0: np.ndarray, dphi: float, ddphi: float,
           chi: float | None) -> dict[str, float]:
    """µ_Φ = σ_min(φ(W0X)), ν_Φ = φ'max σ_max(X) σ_max(V0) + σ_max(φ(W0X)),
    β_Φ = √2 σ_max(X)(φ'max + φ''max χ_max), ρ_Φ = µ_Φ/(2β_Φ) (eq 6, 18).

    σ_min is the n-th singular value (0 when the width is below n); χ_max defaults to the
    bound inside the ball (``chi_in_ball``)."""
    d1, n = phi0.shape
    sv = _singular_values(phi0)
    mu = float(sv[-1]) if d1 >= n else 0.0
    s_phi = float(sv[0])
    s_x = float(_singular_values(X)[0])
    s_v = float(_singular_values(V0)[0])
    nu = dphi * s_x * s_v + s_phi
    chi_max = chi if chi is not None else chi_in_ball(s_v, mu, s_x, dphi, ddphi)
    beta = np.sqrt(2.0) * s_x * (dphi + ddphi * chi_max) if np.isfinite(ddphi) else np.inf
    rho = mu / (2.0 * beta) if np.isfinite(beta) else 0.0
    return {"mu_phi": mu, "nu_phi": float(nu), "beta_phi": float(beta), "rho_phi": float(rho),
            "chi_max": float(chi_max), "sigma_max_X": s_x, "sigma_max_V0": s_v,
            "sigma_max_phi0": s_phi}


def _singular_values(A: np.ndarray) -> np.ndarray:
    """Singular values, descending, from the smaller Gram matrix."""
    G = A @ A.T if A.shape[0] <= A.shape[1] else A.T @ A
    ev = np.linalg.eigvalsh(G)[::-1]
    return np.sqrt(np.clip(ev, 0.0, None))


def cond9_rhs(alpha_f: float, mu: float, beta: float, nu: float, c: float = 1.0) -> float:
    """C α_f µ⁶/(β² ν²): condition (9) asks h(w0) ≤ this."""
    if not np.isfinite(beta) or beta == 0.0 or nu == 0.0:
        return 0.0
    return c * alpha_f * mu**6 / (beta**2 * nu**2)


def eta_thm2(beta: float, grad_f0: float, beta_f: float, mu: float, nu: float,
             c: float = 1.0) -> float:
    """Eq 13: C/(β_Φ‖∇f(Φ(w0))‖ + β_f µ² + β_f ν²) (0 when β_Φ is infinite)."""
    if not np.isfinite(beta):
        return 0.0
    return c / (beta * grad_f0 + beta_f * mu**2 + beta_f * nu**2)


def rate14(eta: float, alpha_f: float, mu: float, c: float = 1.0) -> float:
    """Eq 14's factor 1 − C η α_f µ² per step."""
    return 1.0 - c * eta * alpha_f * mu**2


def path_bound(nu: float, h0: float, alpha_f: float, mu: float, c: float = 1.0) -> float:
    """The leading term of eq 33: C ν_Φ √h(w0)/(√α_f µ_Φ²) (infinite when µ_Φ = 0)."""
    if mu == 0.0:
        return np.inf
    return c * nu * np.sqrt(h0) / (np.sqrt(alpha_f) * mu**2)


def lazy_ratio(beta: float, nu: float) -> float:
    """Lip(∇Φ)/Lip(Φ)² of eq 82, estimated by β_Φ/ν_Φ²: small means lazy training."""
    return beta / nu**2 if nu > 0 else np.inf


def kernel_error(act, phi0: np.ndarray, X: np.ndarray, omega1: float) -> dict[str, float]:
    """Eq 56 against the empirical Gram φᵀφ/d1: relative Frobenius error and its Monte Carlo
    standard error √(Σ_ab Var_c(φ_ca φ_cb)/d1)/‖E‖ (rows of W0 are independent)."""
    d1 = phi0.shape[0]
    expected = hermite.expected_gram(act, X.T @ X, scale=omega1)
    emp = phi0.T @ phi0 / d1
    second = (phi0**2).T @ (phi0**2) / d1
    var = np.clip(second - emp**2, 0.0, None) * d1 / max(d1 - 1, 1)
    norm = np.linalg.norm(expected)
    return {"kernel_rel_error": float(np.linalg.norm(emp - expected) / norm),
            "kernel_rel_se": float(np.sqrt(var.sum() / d1) / norm)}


# ------------------------------------------------ App. E: the order analysis of Theorem 3
#: δ1, δ2, δ3, δ4 of (76)–(78), which the paper leaves free: δ1, δ2 ∈ [0, 1) set how far
#: σ_min, σ_max of M0 = φ(W0X)ᵀφ(W0X) may stray from those of E[M0], δ3 scales the bound
#: (75) on h(Θ0), δ4 = max(k1, k2) the event (60). These values make every factor 1: the
#: bounds at the level of the expectation, before any probability is paid.
XI_DELTAS = (0.0, 0.0, 1.0, 1.0)


def mu_lower_68(ct_normalized: float, d1: int, sigma_min_kr: float, delta1: float = 0.0
                ) -> float:
    """(68): µ_Φ ≥ √((1 − δ1) d1 c_t²/t!) σ_min(X^{*t}), with ``ct_normalized`` = c_t/√(t!).

    E[M0] = d1 Σ_i (c_i²/i!)(XᵀX)^{∘i} (56) is a sum of positive semidefinite terms, so
    λ_min(E[M0]) ≥ d1 (c_t²/t!) σ²_min(X^{*t}); δ1 is the concentration slack of M0."""
    return float(np.sqrt((1.0 - delta1) * d1) * abs(ct_normalized) * sigma_min_kr)


def xi_78(c0: float, ct_normalized: float, dphi: float, ddphi: float, chi: float,
          deltas: tuple[float, float, float, float] = XI_DELTAS) -> float:
    """(78): ξ = √(δ3² c0² (1 + δ2) δ4⁴ (φ'max + φ''max χ_max)² t!³ / ((1 − δ1)³ c_t⁶)), the
    factor of (77) beside √n σ²_max(X)/σ³_min(X^{*t}); t!³/c_t⁶ = 1/(c_t/√(t!))⁶."""
    d1, d2, d3, d4 = deltas
    slack = np.sqrt(d3**2 * (1.0 + d2) * d4**4 / (1.0 - d1) ** 3)
    lip = dphi + ddphi * chi if np.isfinite(ddphi) else np.inf
    if ct_normalized == 0.0:
        return np.inf
    return float(slack * abs(c0) * lip / abs(ct_normalized) ** 3)


def width_79(n: int, sigma_max_x: float, sigma_min_kr: float) -> float:
    """(79): d1 = Ω̃(√n σ²_max(X)/σ³_min(X^{*t})) (ξ = 1; infinite when σ_min(X^{*t}) = 0)."""
    if sigma_min_kr <= 0.0:
        return np.inf
    return float(np.sqrt(n) * sigma_max_x**2 / sigma_min_kr**3)


def width_80(n: int, d0: int) -> float:
    """(80) with ξ = 1 (and (21)): d1 ≳ n^{3/2}/d0, from σ_max(X) ≈ √(n/d0), σ_min(X^{*t}) ≈ 1."""
    return float(n**1.5 / d0)
