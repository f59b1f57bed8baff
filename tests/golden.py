"""What a user sees of every registered experiment, recorded so that a refactor can prove it
changed nothing: the planned run ids (full and quick mode) and the column names and dtypes of
the quick reproduction's tables.

Regenerate only for a deliberate change (and say so in the commit):

    python tests/golden.py RESULTS   # RESULTS: a folder of `overparam reproduce --quick`

and compare every value of two such folders (timings aside):

    python tests/golden.py --compare BEFORE AFTER
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

GOLDEN = Path(__file__).with_name("data") / "golden_experiments.json"
TABLES = ("runs", "steps", "checks")


def planned_ids() -> dict[str, dict[str, list[str]]]:
    """Each experiment's planned run ids in full and in quick mode (no instance is built)."""
    from overparam import runner
    from overparam.experiments import all_experiments

    out = {}
    for exp in all_experiments():
        modes = {}
        for mode, quick in (("full", False), ("quick", True)):
            p = runner.plan(exp.id, quick=quick, build_instances=False)
            modes[mode] = sorted(p.run_id(s, k) for s in p.settings for k in p.seeds())
        out[exp.id] = modes
    return out


def table_columns(results: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Column name → dtype of every table of every experiment folder under ``results``."""
    import pandas as pd

    out = {}
    for manifest in sorted(results.glob("*/manifest.json")):
        exp_id = json.loads(manifest.read_text())["id"]
        out[exp_id] = {t: {c: str(d) for c, d in pd.read_parquet(manifest.parent / f"{t}.parquet")
                           .dtypes.items()} for t in TABLES}
    return out


#: Columns that measure the machine, not the run.
TIMINGS = ("compile_s", "run_s", "theory_s", "wall_s")


def compare(before: Path, after: Path) -> list[str]:
    """Differences between two results folders' tables, matched on run id (and step or
    check): missing or extra runs, columns, and values that are not bit-identical."""
    import numpy as np
    import pandas as pd

    keys = {"runs": ["run_id"], "steps": ["run_id", "step"], "checks": ["run_id", "check"]}
    problems = []
    for manifest in sorted(before.glob("*/manifest.json")):
        folder = manifest.parent.name
        for table, key in keys.items():
            a = pd.read_parquet(before / folder / f"{table}.parquet")
            b = pd.read_parquet(after / folder / f"{table}.parquet")
            a = a.drop(columns=[c for c in TIMINGS if c in a]).sort_values(key).reset_index(drop=True)
            b = b.drop(columns=[c for c in TIMINGS if c in b]).sort_values(key).reset_index(drop=True)
            if list(a.columns) != list(b.columns) or len(a) != len(b):
                problems.append(f"{folder}/{table}: columns or rows differ "
                                f"({sorted(set(a.columns) ^ set(b.columns))}, {len(a)} vs {len(b)})")
                continue
            for col in a.columns:
                x, y = a[col].to_numpy(), b[col].to_numpy()
                same = (np.array_equal(x, y, equal_nan=True) if x.dtype.kind in "fc"
                        else bool((pd.Series(x).fillna("<na>").astype(str)
                                   == pd.Series(y).fillna("<na>").astype(str)).all()))
                if not same:
                    problems.append(f"{folder}/{table}.{col} differs")
    return problems


def main(results: str) -> None:
    data = {"planned_run_ids": planned_ids(), "columns": table_columns(Path(results))}
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        found = compare(Path(sys.argv[2]), Path(sys.argv[3]))
        print("\n".join(found) or "identical (timings aside)")
        sys.exit(1 if found else 0)
    main(sys.argv[1])
