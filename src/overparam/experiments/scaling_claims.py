"""Paper B's statements about its width scaling (§5.3, Table 1, §7) and the near-isometry of
the first layer at init (Lemma 3, eq 56), evaluated on ``shallow/width-scaling`` and
``shallow/near-isometry``.

An exponent fitted over a few n decides a claim only when its 95% interval does: inside the
claimed side it holds, wholly on the other side it fails, and an interval across the claimed
value cannot decide (the verdict says so, with the interval)."""

from __future__ import annotations

import math

from overparam.experiments.claims import Claim, Frames, Outcome, cannot, fails, holds

#: Table 1: Ω̃(n^{3/2}) parameters suffice; the state of the art before it needed n².
SUFFICIENT_POWER, QUADRATIC = 1.5, 2.0
#: §7: d1 = Õ(n) suffices when d0 = Ω̃(√n).
LINEAR = 1.0
#: eq 56: the Gram φ(W0X)ᵀφ(W0X)/d1 concentrates at its expectation like d1^{−1/2}. The
#: fitted slope over a few widths is noisy: a slope within this of −1/2 (or steeper) holds.
KERNEL_RATE, KERNEL_SLACK = -0.5, 0.15


def _interval_verdict(what: str, slope: float, lo: float, hi: float, bound: float,
                      n_points: int) -> Outcome:
    """holds when the interval lies at or below ``bound``, fails when wholly above it."""
    text = f"{what} ∝ n^{slope:.2f} (95% CI [{lo:.2f}, {hi:.2f}], {n_points} values of n)"
    if not math.isfinite(slope):
        return cannot("fewer than two n reached the target", text)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return cannot("fewer than three n: no interval for the exponent", text)
    if hi <= bound:
        return holds(text, slope)
    if lo > bound:
        return fails(text, slope)
    return cannot(f"the interval contains {bound:g}: more n (full mode) are needed to decide",
                  text)


def _exponent(f: Frames, regime: str, column: str) -> tuple[float, float, float, int]:
    from overparam.experiments.near_isometry import fit_exponent, thresholds

    table = thresholds(f.runs)
    grp = table[table["regime"] == regime].dropna(subset=["d1_star"]).sort_values("n")
    if len(grp) < 2:
        return math.nan, math.nan, math.nan, len(grp)
    values = grp["params"] if column == "params" else grp["d1_star"]
    return (*fit_exponent(grp["n"].to_numpy(float), values.to_numpy(float)), len(grp))


def subquadratic(f: Frames) -> Outcome:
    parts = [(_exponent(f, regime, "params"), regime) for regime in ("d0 fixed", "d0 ≈ √n")]
    outs = [_interval_verdict(f"{regime}: least d0·d1", *e[:3], QUADRATIC, e[3])
            for e, regime in parts]
    return _combine(outs)


def three_halves(f: Frames) -> Outcome:
    e = _exponent(f, "d0 fixed", "params")
    return _interval_verdict("d0 fixed: least d0·d1", *e[:3], SUFFICIENT_POWER, e[3])


def linear_width(f: Frames) -> Outcome:
    e = _exponent(f, "d0 ≈ √n", "d1")
    return _interval_verdict("d0 ≈ √n: least d1", *e[:3], LINEAR, e[3])


def _combine(outs: list[Outcome]) -> Outcome:
    """Every part holds → holds; any fails → fails; otherwise cannot (with each reason)."""
    measured = "; ".join(o.measured for o in outs)
    if any(o.verdict == "fails" for o in outs):
        return fails(measured)
    if all(o.verdict == "holds" for o in outs):
        return holds(measured)
    return cannot("; ".join(o.reason for o in outs if o.reason), measured)


def kernel_rate(f: Frames) -> Outcome:
    import numpy as np

    runs = f.runs[f.runs["status"] != "failed"].dropna(subset=["kernel_rel_error"])
    if runs.empty:
        return cannot("no run measured the kernel error (unit-norm inputs, small n needed)")
    texts, ok, n = [], True, 0
    for act, grp in runs.groupby("activation_name" if "activation_name" in runs
                                  else "problem.activation", sort=False):
        med = grp.groupby("d1")["kernel_rel_error"].median().sort_index()
        if len(med) < 2:
            continue
        slope = float(np.polyfit(np.log(med.index.to_numpy(float)), np.log(med.to_numpy()),
                                 1)[0])
        n += 1
        ok &= slope <= KERNEL_RATE + KERNEL_SLACK
        texts.append(f"{act}: {slope:.2f}")
    if not n:
        return cannot("fewer than two widths per activation")
    measured = "slope of log error in log d1: " + ", ".join(texts)
    return holds(measured) if ok else fails(measured)


SCALING_CLAIMS = (
    Claim("B.tab1.subquadratic", "GD reaches zero loss with a subquadratic number of "
          "parameters: the least d0·d1 grows slower than n²", "Table 1, §5.3", subquadratic),
    Claim("B.tab1.three_halves", "Ω̃(n^{3/2}) parameters suffice: the least d0·d1 grows at "
          "most like n^{3/2} (d0 fixed)", "§1, Table 1", three_halves),
    Claim("B.sec7.linear", "A width d1 = Õ(n) suffices when d0 = Ω̃(√n)", "§7", linear_width),
)

ISOMETRY_CLAIMS = (
    Claim("B.eq56.rate", "The first layer's Gram φ(W0X)ᵀφ(W0X)/d1 concentrates at its "
          "expectation like d1^{−1/2}", "eq 56, App. D", kernel_rate),
)
