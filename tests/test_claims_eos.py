"""The edge-of-stability claims on hand-built tables: sharpness traces that rise to 2/η and
hover there (every claim holds), and ones that stay low, leave the band, or lose monotone
decrease (each claim fails for its own reason)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from overparam.experiments import probe as eos
from overparam.experiments.claims import Frames, evaluate_claims


def _frames(traces: dict[float, tuple[np.ndarray, np.ndarray]], local=None) -> Frames:
    """Runs with constant steps η (sharpness measured every step) and an optional eq 19 run
    with its η_t·λ_max trace."""
    runs, steps = [], []
    for i, (eta, (sharp, loss)) in enumerate(traces.items()):
        rid = f"r{i}"
        runs.append({"run_id": rid, "schedule.kind": "constant", "schedule.eta": eta,
                     "schedule.eta0": np.nan, "status": "ok", "seed": 0})
        steps.append(pd.DataFrame({"run_id": rid, "step": np.arange(sharp.size),
                                   "sharpness": sharp, "loss": loss,
                                   "eta_sharpness": eta * sharp}))
    if local is not None:
        runs.append({"run_id": "loc", "schedule.kind": "local_pl", "schedule.eta": np.nan,
                     "schedule.eta0": 0.05, "status": "ok", "seed": 0})
        steps.append(pd.DataFrame({"run_id": "loc", "step": np.arange(local.size),
                                   "sharpness": local, "loss": np.ones(local.size),
                                   "eta_sharpness": local}))
    return Frames(pd.DataFrame(runs), pd.concat(steps, ignore_index=True), pd.DataFrame(),
                  quick=False)


def _eos_trace(eta: float, n: int = 400, wobble: float = 0.05):
    """Sharpness rising linearly from 2 to 2/η by step n/2, then 2/η·(1 ± wobble); a loss
    that falls overall but rises on every 10th step."""
    top = 2.0 / eta
    t = np.arange(n)
    sharp = np.where(t < n // 2, 2.0 + (top - 2.0) * t / (n // 2),
                     top * (1 + wobble * np.sin(t)))
    loss = np.exp(-t / n) * (1 + 0.05 * (t % 10 == 0))
    return sharp, loss


def _verdicts(frames: Frames) -> dict[str, str]:
    table = evaluate_claims(eos.CLAIMS, frames)
    return dict(zip(table["claim"], table["verdict"], strict=True))


def test_every_claim_holds_on_an_edge_of_stability_picture():
    frames = _frames({0.2: _eos_trace(0.2), 0.4: _eos_trace(0.4)},
                     local=np.full(50, 1.5))
    assert set(_verdicts(frames).values()) == {"holds"}


def test_each_claim_fails_for_its_own_reason():
    low = (np.linspace(2.0, 5.0, 400), np.exp(-np.arange(400) / 400))  # never reaches 2/0.2
    v = _verdicts(_frames({0.2: low, 0.4: _eos_trace(0.4)}, local=np.full(50, 2.5)))
    assert v["E.reach"] == "fails" and v["E.local_pl"] == "fails"
    assert v["E.hover"] == "holds"  # judged on the run that reached 2/η
    v = _verdicts(_frames({0.4: _eos_trace(0.4, wobble=0.4)}))
    assert v["E.hover"] == "fails" and v["E.reach"] == "holds"
    sharp, _ = _eos_trace(0.4)
    v = _verdicts(_frames({0.4: (sharp, np.exp(-np.arange(400) / 400))}))  # monotone loss
    assert v["E.loss"] == "fails"
    flat = np.where(np.arange(400) < 5, 5.0, 5.0 * (1 + 0.01 * np.sin(np.arange(400))))
    v = _verdicts(_frames({0.4: (flat, _eos_trace(0.4)[1])}))  # at 2/η from the start
    assert v["E.sharpening"] in ("fails", "cannot")


def test_claims_say_why_not_without_runs():
    frames = Frames(pd.DataFrame({"run_id": [], "schedule.kind": [], "schedule.eta": [],
                                  "status": []}),
                    pd.DataFrame({"run_id": [], "step": [], "sharpness": [], "loss": [],
                                  "eta_sharpness": []}), pd.DataFrame(), quick=True)
    table = evaluate_claims(eos.CLAIMS, frames)
    assert set(table["verdict"]) == {"cannot"} and (table["reason"] != "").all()
