"""Paper A's and paper D's claims: each evaluator on hand-built tables where the paper's
statement must hold and where it must fail, and two quick experiments end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from overparam import runner
from overparam.experiments import directional_claims as dc
from overparam.experiments import local_pl_claims as ac
from overparam.experiments.claims import Frames


def _frames(pairs, quick: bool = False) -> Frames:
    runs = pd.DataFrame([r for r, _ in pairs])
    steps = pd.concat([s for _, s in pairs], ignore_index=True)
    return Frames(runs, steps, pd.DataFrame(), quick)


def _verdict(fn, frames) -> str:
    return fn(frames).verdict


# ------------------------------------------------------------------ paper A
def _gd(rid, kind, rate, width=100, noise=0.1, ratio=0.5, bound_rate=None, steps=40,
        run_s=None, evals=1.0, p=None):
    """A run whose L − ℓ* falls geometrically by ``rate`` per step, its bound by ``bound_rate``."""
    t = np.arange(steps + 1)
    run = {"run_id": rid, "status": "ok", "schedule.kind": kind, "problem.width": width,
           "problem.data.noise": noise, "alpha1": ratio, "alpha2": 1.0, "steps": steps,
           "run_s": run_s if run_s is not None else 1e-3 * steps, "init.p": p}
    step = pd.DataFrame({"run_id": rid, "step": t, "loss_gap": rate ** t, "n_evals": evals})
    if kind in ac.BOUND_OF:
        step[ac.BOUND_OF[kind]] = (bound_rate if bound_rate is not None else rate ** 0.5) ** t
    return run, step


def test_fig1_bounds_above_the_loss_and_their_distance():
    ok = _frames([_gd("a", "local_pl", 0.2), _gd("b", "constant", 0.2, bound_rate=0.6)])
    out = ac.bounds_above(ok)
    assert out.verdict == "holds" and "decades" in out.measured
    assert _verdict(ac.bounds_above, _frames([_gd("a", "local_pl", 0.2, bound_rate=0.1)])) == "fails"
    assert _verdict(ac.bounds_above, _frames([_gd("a", "xu2023", 0.2)])) == "cannot"


def _fig1_grid(faster_with_ratio: bool):
    pairs = []
    for i, ratio in enumerate((0.2, 0.3, 0.5, 0.7)):
        rate = 0.5 - 0.1 * i if faster_with_ratio else 0.2 + 0.1 * i
        for kind in ac.ADAPTIVE:
            pairs.append(_gd(f"{kind}{i}", kind, rate, width=100 * (i + 1), ratio=ratio))
    return _frames(pairs)


def test_fig1_slower_as_alpha_ratio_falls():
    assert _verdict(ac.slower_as_ratio_falls, _fig1_grid(True)) == "holds"
    assert _verdict(ac.slower_as_ratio_falls, _fig1_grid(False)) == "fails"
    few = _frames([_gd("a", "local_pl", 0.2), _gd("b", "local_pl", 0.3, width=200)])
    assert _verdict(ac.slower_as_ratio_falls, few) == "cannot"


def _fig2(local_rate, rival_rate, local_s=0.01, rival_s=0.01, bt_evals=5.0, quick=False):
    pairs = []
    for w in (100, 400):
        pairs += [_gd(f"l{w}", "local_pl", local_rate, width=w, run_s=local_s),
                  _gd(f"x{w}", "xu2023", rival_rate, width=w, run_s=rival_s),
                  _gd(f"b{w}", "backtracking", rival_rate, width=w, run_s=rival_s,
                      evals=bt_evals)]
    return _frames(pairs, quick)


def test_fig2_eq19_fastest_in_iterations_and_time():
    assert _verdict(ac.eq19_fewest_iterations, _fig2(0.05, 0.5)) == "holds"
    assert _verdict(ac.eq19_fewest_iterations, _fig2(0.5, 0.05)) == "fails"
    assert _verdict(ac.eq19_fastest_time, _fig2(0.05, 0.5)) == "holds"
    assert _verdict(ac.eq19_fastest_time, _fig2(0.05, 0.5, local_s=10.0)) == "fails"
    quick = ac.eq19_fastest_time(_fig2(0.05, 0.5, quick=True))
    assert quick.verdict == "cannot" and "ms" in quick.measured


def test_fig2_cost_per_step():
    assert _verdict(ac.xu_costlier_per_step, _fig2(0.05, 0.5, rival_s=0.02)) == "holds"
    assert _verdict(ac.xu_costlier_per_step, _fig2(0.05, 0.5, rival_s=0.005)) == "fails"
    assert _verdict(ac.xu_costlier_per_step, _fig2(0.05, 0.5, 0.01, 0.02, quick=True)) == "cannot"
    assert _verdict(ac.backtracking_costlier, _fig2(0.05, 0.5)) == "holds"
    assert _verdict(ac.backtracking_costlier, _fig2(0.05, 0.5, bt_evals=1.0)) == "fails"


def _toy(mu=1.0, K=1.0, pl_exact=True):
    x = np.linspace(0.3, 1.2, 10)
    runs = pd.DataFrame([{"run_id": "a", "status": "ok", "mu": mu, "K": K}])
    steps = pd.DataFrame({"run_id": "a", "step": np.arange(10), "loss": 0.5 * (x * x - 1) ** 2 + 1e-3,
                          "sigma_min_T2": 2 * x**2, "pl_ratio": 2 * x**2 if pl_exact else 1.0})
    return Frames(runs, steps, pd.DataFrame(), True)


def test_fig3_toy_constants_and_maps(monkeypatch):
    from overparam.theory import toy_landscape

    assert _verdict(ac.toy_plain_constants, _toy()) == "holds"
    assert _verdict(ac.toy_plain_constants, _toy(K=2.0)) == "fails"
    assert _verdict(ac.toy_mu_vanishes, _toy()) == "holds"
    assert _verdict(ac.toy_mu_vanishes, _toy(pl_exact=False)) == "fails"
    assert _verdict(ac.toy_nonconvex, _toy()) == "holds"
    assert _verdict(ac.toy_K_diverges, _toy()) == "holds"
    # a convex, bounded-curvature landscape in place of the toy's: both statements fail
    monkeypatch.setattr(toy_landscape, "toy_hessian",
                        lambda x1, x2: np.broadcast_to(np.eye(2), np.shape(x1) + (2, 2)))
    monkeypatch.setattr(toy_landscape, "toy_K_over_exact", lambda x1, x2: np.ones_like(x1))
    assert _verdict(ac.toy_nonconvex, _toy()) == "fails"
    assert _verdict(ac.toy_K_diverges, _toy()) == "fails"


def _fig4(kappa_falls=True, ratio_rises_with_p=False, ratio_rises_with_h=True):
    rows = []
    for i, p in enumerate((0.275, 0.375, 0.475)):
        for j, h in enumerate((100, 300, 900)):
            kappa = 2.0 - 0.3 * j if kappa_falls else 1.2 + 0.3 * j
            ratio = (0.2 + 0.1 * (j if ratio_rises_with_h else -j)
                     + 0.02 * (i if ratio_rises_with_p else -i))
            rows.append({"run_id": f"{i}{j}", "status": "ok", "init.p": p, "problem.width": h,
                         "sigma_max_T2_0": kappa**2, "sigma_min_T2_0": 1.0,
                         "alpha1": ratio + 0.5, "alpha2": 1.0})
    return Frames(pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame(), True)


def test_fig4_conditioning_trends():
    assert _verdict(ac.FIG4_CLAIMS[0].evaluate, _fig4()) == "holds"
    assert _verdict(ac.FIG4_CLAIMS[0].evaluate, _fig4(kappa_falls=False)) == "fails"
    assert _verdict(ac.FIG4_CLAIMS[1].evaluate, _fig4(ratio_rises_with_p=True)) == "holds"
    assert _verdict(ac.FIG4_CLAIMS[1].evaluate, _fig4()) == "fails"
    assert _verdict(ac.FIG4_CLAIMS[2].evaluate, _fig4()) == "holds"
    assert _verdict(ac.FIG4_CLAIMS[2].evaluate, _fig4(ratio_rises_with_h=False)) == "fails"


def _fig5(local_rates: dict[int, float], ratios=None):
    pairs = []
    for k, (w, rate) in enumerate(local_rates.items()):
        ratio = ratios[k] if ratios else 0.3 + 0.1 * k
        pairs += [_gd(f"p{w}", "plain_inverse_k", 0.01, width=w, ratio=ratio),
                  _gd(f"l{w}", "local_pl", rate, width=w, ratio=ratio)]
    return _frames(pairs)


def test_fig5_closer_and_almost_matching_plain_gd():
    closing = _fig5({50: 0.5, 1000: 0.1, 5000: 0.02})
    assert _verdict(ac.closer_with_width, closing) == "holds"
    assert _verdict(ac.almost_matches, closing) == "holds"
    opening = _fig5({50: 0.05, 1000: 0.3, 5000: 0.5})
    assert _verdict(ac.closer_with_width, opening) == "fails"
    assert _verdict(ac.almost_matches, opening) == "fails"
    assert _verdict(ac.almost_matches, _fig5({50: 0.5, 400: 0.1})) == "cannot"
    assert _verdict(ac.ratio_grows_with_width, closing) == "holds"
    assert _verdict(ac.ratio_grows_with_width, _fig5({50: 0.5, 400: 0.1}, [0.5, 0.3])) == "fails"


def test_general_loss_contracts_and_gets_more_benign():
    run, step = _gd("a", "local_pl", 0.9)
    step = step.assign(K_t=np.linspace(600.0, 590.0, len(step)))
    assert _verdict(ac.contracts_every_step, _frames([(run, step)])) == "holds"
    assert _verdict(ac.landscape_more_benign, _frames([(run, step)])) == "holds"
    bumped = step.copy()
    bumped.loc[5, "loss_gap"] = bumped.loc[4, "loss_gap"] * 1.01
    assert _verdict(ac.contracts_every_step, _frames([(run, bumped)])) == "fails"
    rising = step.assign(K_t=step["K_t"][::-1].to_numpy())
    assert _verdict(ac.landscape_more_benign, _frames([(run, rising)])) == "fails"


# ------------------------------------------------------------------ paper D
def _dir(rid, t, cos, norm, loss=None, kind="sgd", **cols):
    run = {"run_id": rid, "status": "ok", "problem.dynamics.kind": kind,
           "problem.dynamics.batch": 1000.0, "balanced": True, "N": cols.pop("N", 1)}
    run.update({k: cols.pop(k) for k in list(cols) if k in (
        "problem.distribution.kind", "problem.dim", "cos_theta0", "n0", "n1_thm2", "R1",
        "init.theta0", "schedule.eta", "steps")})
    cos = np.clip(np.asarray(cos, float), -1, 1)
    nan = np.full(len(t), np.nan)
    step = pd.DataFrame({"run_id": rid, "step": np.arange(len(t)), "t": t, "cos_theta": cos,
                         "theta": np.arccos(cos), "weight_norm": norm,
                         "loss": loss if loss is not None else np.log1p(np.exp(-np.asarray(t))),
                         "bound_lower": nan, "bound_upper": nan, "bound_lower_restart": nan,
                         "bound_upper_restart": nan, **cols})
    return run, step


T = np.linspace(0.0, 20.0, 201)
GAP = 1.8 * np.exp(-T / 3)
DIP = 1 - 0.6 * np.exp(-((T - 8) ** 2) / 20) + 0.05 * np.maximum(T - 10, 0)


def test_fig1_bounds_roughly_match_sgd():
    near = _dir("a", T, 1 - GAP, DIP, bound_lower=1 - np.minimum(2.0, 3 * GAP))
    far = _dir("a", T, 1 - GAP, DIP, bound_lower=1 - np.minimum(2.0, 300 * GAP))
    assert _verdict(dc.bounds_match, _frames([near])) == "holds"
    assert _verdict(dc.bounds_match, _frames([far])) == "fails"
    loose_upper = _dir("a", T, 1 - GAP, DIP, bound_lower=1 - np.minimum(2.0, 3 * GAP),
                       bound_upper=np.where(T > 2, 1.0, 1 - GAP / 3))
    assert _verdict(dc.bounds_match, _frames([loose_upper])) == "fails"
    flow = _dir("a", T, 1 - GAP, DIP, kind="flow", bound_lower=1 - GAP)
    assert _verdict(dc.bounds_match, _frames([flow])) == "cannot"


def test_fig1_norm_decreases_then_increases():
    assert _verdict(dc.norm_down_then_up, _frames([_dir("a", T, 1 - GAP, DIP)])) == "holds"
    assert _verdict(dc.norm_down_then_up, _frames([_dir("a", T, 1 - GAP, 1 + T)])) == "fails"


def test_fig1b_stuck_period_and_slow_loss():
    flat = np.where(T < 5, np.exp(-T / 2), np.where(T <= 10, np.exp(-2.5), np.exp(-2.5 + (T - 10) / 3)))
    loss = np.where(T < 5, 1 - 0.05 * T, np.where(T <= 10, 0.75 - 0.001 * (T - 5), 0.745 - 0.03 * (T - 10)))
    cos = np.clip(-0.8 + 0.09 * T, -1, 0.99)
    stuck = _dir("a", T, cos, flat, loss=loss)
    assert _verdict(dc.stuck_period, _frames([stuck])) == "holds"
    assert _verdict(dc.loss_slow_angle_moves, _frames([stuck])) == "holds"
    steady = _dir("a", T, np.where(T <= 10, -0.8 + 0.01 * T, -0.7 + 0.15 * (T - 10)),
                  np.exp(-T / 4), loss=1 - 0.03 * T)
    assert _verdict(dc.stuck_period, _frames([steady])) == "fails"
    assert _verdict(dc.loss_slow_angle_moves, _frames([steady])) == "fails"
    short = _dir("a", T[:60], cos[:60], flat[:60], loss=loss[:60])
    assert _verdict(dc.stuck_period, _frames([short])) == "cannot"


def test_prop4_closed_form():
    law = {"problem.distribution.kind": "gaussian", "problem.dim": 2, "N": 2}
    cos = 1 - GAP
    exact = _dir("a", T, cos, DIP, kind="flow", bound_lower=cos, **law)
    off = _dir("a", T, cos, DIP, kind="flow", bound_lower=cos - 1e-6, **law)
    assert _verdict(dc.prop4_exact, _frames([exact])) == "holds"
    assert _verdict(dc.prop4_exact, _frames([off])) == "fails"


def _phases(rid, eta, n0, cos0=-0.8, below=False, fails_at=(), n1=-1, theta0=2.5, R1=1.0):
    n = 30
    t = np.arange(n, dtype=float)
    cos = np.minimum(cos0 + 0.2 * t, 0.999)
    bound = cos - (0.05 if not below else -0.05)
    lhs = np.full(n, 2.0)
    lhs[list(fails_at)] = -1.0
    phase = np.where(t < max(n0, 0), 1.0, 3.0)
    return _dir(rid, t, cos, 0.5 + 0.2 * t, kind="gd", bound_lower=bound, cond11_lhs=lhs,
                cond11_rhs=np.full(n, 0.5), phase=phase, cos_theta0=cos0, n0=n0, n1_thm2=n1,
                R1=R1, **{"init.theta0": theta0, "schedule.eta": eta, "steps": n})


def test_lemma4_bound_and_larger_steps_leave_the_wrong_region_sooner():
    ok = _frames([_phases("a", 1.0, 6), _phases("b", 30.0, 1)])
    assert _verdict(dc.lemma4_bound, ok) == "holds"
    assert _verdict(dc.lemma4_faster, ok) == "holds"
    assert _verdict(dc.lemma4_bound, _frames([_phases("a", 1.0, 6, below=True)])) == "fails"
    assert _verdict(dc.lemma4_faster, _frames([_phases("a", 1.0, 1), _phases("b", 30.0, 6)])) == "fails"


def test_condition_11_unstable_then_sufficient_and_theorem_2():
    shaky = _frames([_phases("a", 1.0, 0, cos0=0.3, theta0=1.2),
                     _phases("b", 30.0, 0, cos0=0.3, theta0=1.2, fails_at=(1, 2))])
    assert _verdict(dc.unstable_after_n0, shaky) == "holds"
    assert _verdict(dc.unstable_after_n0, _frames([_phases("a", 1.0, 0, cos0=0.3)])) == "fails"
    assert _verdict(dc.r1_sufficient, shaky) == "holds"
    assert _verdict(dc.r1_sufficient, _frames([_phases("a", 1.0, 0, fails_at=(20,))])) == "fails"
    assert _verdict(dc.lemma5_bound, shaky) == "holds"
    assert _verdict(dc.lemma5_bound, _frames([_phases("a", 1.0, 0, below=True)])) == "fails"
    assert _verdict(dc.thm2_from_n1, _frames([_phases("a", 1.0, 4, n1=6)])) == "holds"
    assert _verdict(dc.thm2_from_n1, _frames([_phases("a", 1.0, 4, n1=2)])) == "fails"
    assert _verdict(dc.thm2_from_n1, _frames([_phases("a", 1.0, 4)])) == "cannot"


# ------------------------------------------------------------------ end to end
@pytest.mark.parametrize(("eid", "steps"), [("local-pl/vs-plain", 40), ("directional/gd-phases", 60)])
def test_quick_experiments_evaluate_every_claim(eid, steps, tmp_path):
    """Two of the cheapest quick experiments (shortened) through the runner: no claim errs."""
    plan = runner.plan(eid, quick=True, steps=steps)
    result = runner.execute(plan, tmp_path, progress=False)
    claims = result.claims
    assert list(claims["claim"]) == [c.id for c in plan.experiment.claims] and len(claims)
    assert "error" not in set(claims["verdict"]), claims[["claim", "reason"]].to_string()
    assert (claims.loc[claims["verdict"] == "cannot", "reason"] != "").all()
