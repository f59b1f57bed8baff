"""Property-based fuzzing of the spec format through the command line.

Small valid specs (one per problem kind, and .npy variants) are mutated: wrong types,
out-of-range and non-finite numbers, missing keys, unknown keys at any depth, broken data
files and bad ``--set`` overrides. Every example runs ``overparam run-spec`` in-process and
must end in one of three ways: exit 0 with the results written; exit 3 with the results
written and the line saying which runs failed or stalled and why; or exit 2 with exactly one
line ``error: FIELD: message`` naming a field of the spec, no traceback, and nothing under
``--out``. Unknown keys are always errors that name the key.

The examples are derandomized (reproducible in CI); most mutations are invalid by
construction, and valid ones run two steps, so the file takes well under a minute.
"""

from __future__ import annotations

import copy
import io
import math
import os
import re
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from overparam.cli import app
from overparam.spec import Spec

runner = CliRunner()

#: ``OVERPARAM_FUZZ=K`` runs K times as many examples, freshly random (a longer search).
_SCALE = int(os.environ.get("OVERPARAM_FUZZ") or 0)


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples * max(_SCALE, 1), deadline=None,
                    derandomize=not _SCALE, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------- valid bases
BASES: dict[str, dict[str, Any]] = {
    "two_layer_linear": {
        "id": "fz-a",
        "problem": {"kind": "two_layer_linear", "width": 4,
                    "data": {"kind": "synthetic", "n": 2, "m": 2}},
        "init": {"kind": "gaussian", "std": 1.0},
        "schedule": {"kind": "constant", "eta": 0.01}, "steps": 2, "seeds": 1,
    },
    "deep_linear": {
        "id": "fz-c",
        "problem": {"kind": "deep_linear", "widths": [3, 4, 4, 2],
                    "data": {"kind": "synthetic", "samples": 5}},
        "init": {"kind": "gaussian"}, "schedule": {"kind": "constant", "eta": "thm1"},
        "steps": 2, "seeds": 1,
    },
    "linear_classifier": {
        "id": "fz-d",
        "problem": {"kind": "linear_classifier", "dim": 2, "quadrature_level": 3,
                    "radius_level": 3, "dynamics": {"kind": "gd"}},
        "init": {"kind": "rank_one"}, "schedule": {"kind": "constant", "eta": 0.5},
        "steps": 2, "seeds": 1,
    },
    "shallow": {
        "id": "fz-b",
        "problem": {"kind": "shallow", "width": 8, "data": {"kind": "sphere", "n": 6, "d0": 3}},
        "init": {"kind": "he"}, "schedule": {"kind": "constant", "eta": 0.01},
        "steps": 2, "seeds": 1,
    },
    "two_layer_npy": {
        "id": "fz-an",
        "problem": {"kind": "two_layer_linear", "width": 4,
                    "data": {"kind": "npy", "X": "X.npy", "Y": "Y.npy"}},
        "init": {"kind": "npy", "W1": "W1.npy", "W2": "W2.npy"},
        "schedule": {"kind": "constant", "eta": 0.01}, "steps": 2, "seeds": 1,
    },
    "deep_npy": {
        "id": "fz-cn",
        "problem": {"kind": "deep_linear", "widths": [3, 4, 2],
                    "data": {"kind": "npy", "X": "X.npy", "Y": "Y.npy"}},
        "init": {"kind": "npy", "weights": ["A.npy", "B.npy"]},
        "schedule": {"kind": "constant", "eta": "thm1"}, "steps": 2, "seeds": 1,
    },
}


#: More kinds of data, dynamics, inits and schedules; their valid runs compile longer, so
#: they get the mutations that are invalid by construction (bad values, unknown keys).
EXTRA_BASES: dict[str, dict[str, Any]] = {
    "classifier_sgd": {
        "id": "fz-ds",
        "problem": {"kind": "linear_classifier", "dim": 3, "depth": 2, "hidden": 2,
                    "quadrature_level": 3, "radius_level": 3,
                    "dynamics": {"kind": "sgd", "batch": 4, "samples": 20}},
        "init": {"kind": "gaussian", "std": 0.5}, "schedule": {"kind": "power", "eta0": 0.1},
        "steps": 2, "seeds": 1,
    },
    "shallow_digits": {
        "id": "fz-bd",
        "problem": {"kind": "shallow", "width": 8, "ntk_every": 0,
                    "data": {"kind": "dataset", "n_train": 20, "n_test": 10, "labels": "true"},
                    "dynamics": {"kind": "sgd", "batch": 8}},
        "init": {"kind": "omega", "omega1": 1.0, "product": "lecun"},
        "schedule": {"kind": "constant", "eta": 0.01}, "steps": 2, "seeds": 1,
    },
    "deep_logistic": {
        "id": "fz-cl",
        "problem": {"kind": "deep_linear", "depth": 3, "hidden": 4, "loss": "logistic",
                    "ridge": 0.1, "data": {"kind": "synthetic", "n": 3, "m": 1, "samples": 6}},
        "init": {"kind": "orthogonal"}, "schedule": {"kind": "constant", "eta": "thm4"},
        "steps": 2, "seeds": 1,
    },
    "two_layer_softmax": {
        "id": "fz-ap",
        "problem": {"kind": "two_layer_linear", "width": 5, "loss": "softmax", "ridge": 0.5,
                    "data": {"kind": "synthetic", "n": 2, "m": 3, "samples": 6, "x": "gaussian",
                             "target": "teacher_labels"}},
        "init": {"kind": "he"}, "schedule": {"kind": "backtracking"}, "steps": 2, "seeds": 1,
    },
}
ALL_BASES = {**BASES, **EXTRA_BASES}


def _npy(a: np.ndarray, **kw: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, **kw)
    return buf.getvalue()


_rng = np.random.default_rng(0)
FILES: dict[str, dict[str, bytes]] = {
    "two_layer_npy": {"X.npy": _npy(_rng.standard_normal((5, 3))),
                      "Y.npy": _npy(_rng.standard_normal((5, 2))),
                      "W1.npy": _npy(_rng.standard_normal((3, 4))),
                      "W2.npy": _npy(_rng.standard_normal((2, 4)))},
    "deep_npy": {"X.npy": _npy(_rng.standard_normal((5, 3))),
                 "Y.npy": _npy(_rng.standard_normal((5, 2))),
                 "A.npy": _npy(_rng.standard_normal((4, 3))),
                 "B.npy": _npy(_rng.standard_normal((2, 4)))},
}


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(3))
    return buf.getvalue()


def _lying_header() -> bytes:
    """A header that promises far more rows than the file holds."""
    return _npy(np.zeros((5, 3))).replace(b"(5, 3)", b"(9, 3)")


#: Broken contents for a .npy file (None: the file is missing).
CORRUPT: dict[str, bytes | None] = {
    "missing": None, "garbage": b"not a numpy file", "empty": b"",
    "truncated": _npy(np.zeros((1000, 3)))[:200], "lying header": _lying_header(),
    "nan": _npy(np.full((5, 3), np.nan)), "inf": _npy(np.full((5, 3), np.inf)),
    "3-d": _npy(np.zeros((5, 3, 2))), "0-d": _npy(np.float64(3.0)),
    "no rows": _npy(np.zeros((0, 3))), "no columns": _npy(np.zeros((5, 0))),
    "object": _npy(np.array([{"a": 1}] * 5, dtype=object), allow_pickle=True),
    "strings": _npy(np.array(["a"] * 5)), "complex": _npy(np.ones((5, 3), complex)),
    "structured": _npy(np.zeros(5, dtype=[("a", "f8"), ("b", "f8")])),
    "wrong rows": _npy(np.ones((4, 3))), "wrong columns": _npy(np.ones((5, 7))),
    "npz archive": _npz(),
    "huge header": _npy(np.zeros((5, 3))).replace(b"(5, 3)", b"(1000000000000, 3)"),
}


# ------------------------------------------------------------------- running
@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) when one run takes more than ``seconds``."""
    def _raise(*_: Any) -> None:
        raise TimeoutError(f"run-spec took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, _raise)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


#: First parts a field may have: the spec's top-level keys, --set and quick.
ROOTS = set(Spec.model_fields) | {"--set", "quick"}
#: ``error: FIELD: message``; odd keys in FIELD are quoted ('zz key').
FIELD = re.compile(r"""^error: ((?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"])+?): \S""")


def run_spec(spec: dict | str, files: dict[str, bytes | None] | None = None,
             extra: list[str] | tuple[str, ...] = (), roots: set[str] = frozenset()
             ) -> tuple[int, str]:
    """Write the spec (a mapping, or raw text) and its files to a fresh folder, run the CLI,
    and check the contract; returns (exit code, output)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, content in (files or {}).items():
            if content is not None:
                (folder / name).write_bytes(content)
        path = folder / "spec.yaml"
        if isinstance(spec, str):
            path.write_text(spec)
        else:
            path.write_text(yaml.safe_dump(spec, allow_unicode=True))
        out = folder / "out"
        with _time_limit(120):
            res = runner.invoke(app, ["run-spec", str(path), "--out", str(out), "--no-progress",
                                      *extra])
        text = res.output
        where = f"spec={spec!r} extra={extra!r}\n{text[-3000:]}"
        assert res.exit_code in (0, 2, 3), f"exit {res.exit_code} ({res.exception!r}): {where}"
        assert "Traceback" not in text, where
        if res.exit_code in (0, 3):  # 3: valid, but a run failed or stalled (and says why)
            assert list(out.rglob("runs.parquet")) and list(out.rglob("manifest.json")), where
            assert not list(folder.glob("*.parquet")), where  # nothing beside --out
            assert res.exit_code == 0 or "runs did not succeed" in text, where
            return res.exit_code, text
        lines = text.strip().splitlines()
        assert len(lines) == 1, where
        m = FIELD.match(lines[0])
        assert m, where
        field = m.group(1)
        root = re.split(r"[.\[]", field)[0].strip("'\"")
        set_roots = {p.partition("=")[0].strip().split(".")[0] for p in extra if "=" in p}
        assert (root in ROOTS | set(roots) | set_roots or field.startswith(tmp)), where
        assert not out.exists() or not any(out.iterdir()), where
        return 2, text


# ---------------------------------------------------------------- strategies
def _paths(node: Any, pre: tuple = ()) -> Iterator[tuple]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield pre + (k,)
            yield from _paths(v, pre + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield pre + (i,)
            yield from _paths(v, pre + (i,))


def _get(d: Any, path: tuple) -> Any:
    for k in path:
        d = d[k]
    return d


def _set(d: dict, path: tuple, value: Any) -> dict:
    d = copy.deepcopy(d)
    _get(d, path[:-1])[path[-1]] = value
    return d


def _delete(d: dict, path: tuple) -> dict:
    d = copy.deepcopy(d)
    del _get(d, path[:-1])[path[-1]]
    return d


SYNTHETIC = [k for k in BASES if k not in FILES]
LEAVES = [(kind, p) for kind in ALL_BASES for p in _paths(ALL_BASES[kind]) if p != ("id",)]
DICTS = [(kind, p) for kind in ALL_BASES for p in [(), *_paths(ALL_BASES[kind])]
         if isinstance(_get(ALL_BASES[kind], p), dict)]
CORE_LEAVES = [(kind, p) for kind, p in LEAVES if kind in BASES]

#: Values that no field takes: wrong types, non-finite, out of range (≤ 0 or ≥ 10⁹).
bad_numbers = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 0, -1, -0.5, 10**9, 10**30, 1e308, -1e308]),
    st.integers(max_value=0), st.integers(min_value=10**9),
    st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=1e9, allow_nan=False),
)
bad_values = st.one_of(
    bad_numbers,
    st.sampled_from(["abc", "", "1e", "-1", "nan", None, True, False, [], [1], {}, {"zz": 1},
                     [None], [[1.0]], "eta_max", "gaussian", "npy"]),
    st.text(max_size=6),
    st.lists(bad_numbers, max_size=3),
)
unknown_keys = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=6).map(lambda s: "zz" + s),
    st.sampled_from(["zz.dot", "zz key", "ZZ", "1", "zz\nnewline", "zzé", "zz-dash"]),
)


# -------------------------------------------------------------------- tests
@fuzz(100)
@given(where=st.sampled_from(LEAVES), value=bad_values)
def test_bad_value_anywhere(where, value):
    kind, path = where
    run_spec(_set(ALL_BASES[kind], path, value), FILES.get(kind))


@fuzz(15)
@given(where=st.sampled_from(CORE_LEAVES))
def test_missing_key_anywhere(where):
    """A deleted key is either a default (the run goes through) or a field-named error."""
    kind, path = where
    run_spec(_delete(BASES[kind], path), FILES.get(kind))


@fuzz(100)
@given(where=st.sampled_from(DICTS), key=unknown_keys, value=bad_values | st.integers(1, 3))
def test_unknown_key_anywhere_is_an_error_naming_it(where, key, value):
    kind, path = where
    spec = copy.deepcopy(ALL_BASES[kind])
    _get(spec, path)[key] = copy.deepcopy(value)
    first = key.split(".")[0]
    code, text = run_spec(spec, FILES.get(kind), roots={first, repr(first).strip("'")})
    assert code == 2, f"unknown key {key!r} at {path} was accepted"
    assert key in text or repr(key) in text, text


@fuzz(80)
@given(kind=st.sampled_from(sorted(FILES)), data=st.data())
def test_broken_data_files(kind, data):
    target = data.draw(st.sampled_from(sorted(FILES[kind])), label="file")
    content = data.draw(st.one_of(st.sampled_from(sorted(CORRUPT)).map(CORRUPT.get),
                                  st.binary(max_size=40)), label="content")
    files = {**FILES[kind], target: content}
    run_spec(BASES[kind], files)


set_keys = st.one_of(
    st.sampled_from(["problem.width", "problem.data.n", "steps", "seeds", "chunk", "seed",
                     "init.std", "schedule.eta", "schedule.kind", "problem.kind", "problem",
                     "sweep", "sweep.problem.width", "sweep.zz", "cases", "problem.zz",
                     "problem.width.zz", "data.n", "diverge_factor", "id", "quick"]),
    st.text(alphabet="abcz._", min_size=1, max_size=8),
)
set_values = st.one_of(
    st.sampled_from(["-1", "0", "abc", "[", "{", "null", ".nan", ".inf", "-.inf", "1e999",
                     "[1, -1]", "[]", "{a: 1}", "{a: 1, a: 2}", "!!python/name:os.system",
                     "[[1]]", "true", "1000000000", "'12'", "{kind: bogus}", "3"]),
    st.text(max_size=6),
)


set_pairs = st.one_of(
    st.builds("{}={}".format, set_keys, set_values),
    st.sampled_from(["=", "=3", "key", "a..b=1", ".x=1", "x.=1", " = ", "problem.width"]),
)


@fuzz(100)
@given(kind=st.sampled_from(SYNTHETIC), pairs=st.lists(set_pairs, min_size=1, max_size=2))
def test_bad_set_override(kind, pairs):
    run_spec(BASES[kind], extra=[a for p in pairs for a in ("--set", p)])


#: Rich console markup and other text a terminal must print as it is.
markup = st.one_of(st.sampled_from(["[/foo]", "[bold]x", "[link=file:///]y[/link]", "a[/]b",
                                    "[red", "\\[x]", ":smile:", "\x1b[31mred"]),
                   st.text(alphabet="[]/:=ab \\", min_size=1, max_size=12))
SPECIAL_FILES = ["/dev/zero", "/dev/urandom", "/dev/null", "FIFO", "."]


def _hostile(kind: str, data: st.DataObject, folder: Path) -> tuple[dict | str, dict | None]:
    """One spec of a class the adversarial probe found: nesting depth, duplicate sweep or
    cases entries, markup in the id or title, zero sizes, special files and header-declared
    sizes as data."""
    spec = copy.deepcopy(ALL_BASES[kind])
    files = FILES.get(kind)
    cls = data.draw(st.sampled_from(["nesting", "duplicates", "markup", "zero", "special",
                                     "header"]), label="class")
    leaves = [p for p in _paths(spec) if p != ("id",)]
    if cls == "nesting":  # written as YAML text: PyYAML's own writer would recurse too deep
        path = data.draw(st.sampled_from(leaves), label="path")
        depth = data.draw(st.integers(40, 700), label="depth")
        text = yaml.safe_dump(_set(spec, path, "NESTED_HERE"), allow_unicode=True)
        return text.replace("NESTED_HERE", "[" * depth + "1.0" + "]" * depth), files
    elif cls == "duplicates":
        leaf = data.draw(st.sampled_from(leaves), label="path")
        if data.draw(st.booleans(), label="cases"):
            case = {".".join(map(str, leaf)): _get(spec, leaf)}
            spec["cases"] = [case, copy.deepcopy(case)]
        else:
            value = _get(spec, leaf)
            spec["sweep"] = {".".join(map(str, leaf)): [value, copy.deepcopy(value)]}
    elif cls == "markup":
        spec[data.draw(st.sampled_from(["id", "title"]), label="where")] = data.draw(markup)
    elif cls == "zero":
        sizes = [p for p in leaves if isinstance(_get(spec, p), int)
                 and not isinstance(_get(spec, p), bool)]
        spec = _set(spec, data.draw(st.sampled_from(sizes), label="size"), 0)
    elif files:
        target = data.draw(st.sampled_from(sorted(files)), label="file")
        if cls == "header":
            files = {**files, target: CORRUPT["huge header"]}
        else:
            special = data.draw(st.sampled_from(SPECIAL_FILES), label="special")
            if special == "FIFO":
                special = str(folder / "fifo")
                if not os.path.exists(special):
                    os.mkfifo(special)
            where = next(p for p in _paths(spec) if _get(spec, p) == target)
            spec = _set(spec, where, special)
    return spec, files


@fuzz(12)
@given(kind=st.sampled_from(sorted(ALL_BASES)), data=st.data())
def test_hostile_inputs_of_every_class(kind, data):
    """Each class ends in the contract: a result, or one line naming the field."""
    with tempfile.TemporaryDirectory() as tmp:
        spec, files = _hostile(kind, data, Path(tmp))
        run_spec(spec, files, roots={"cases", "sweep"})


mutations = st.one_of(
    st.tuples(st.just("value"), bad_values),
    st.tuples(st.just("delete"), st.none()),
    st.tuples(st.just("unknown"), unknown_keys),
)


@fuzz(60)
@given(kind=st.sampled_from(sorted(BASES)), data=st.data())
def test_stacked_mutations(kind, data):
    """Two or three mutations of one spec at once (a type error next to a missing key, an
    unknown key inside a replaced mapping, ...)."""
    spec = copy.deepcopy(BASES[kind])
    added: set[str] = set()
    for _ in range(data.draw(st.integers(2, 3), label="count")):
        where = [p for p in _paths(spec) if p != ("id",)]
        if not where:
            break
        path = data.draw(st.sampled_from(where), label="path")
        op, arg = data.draw(mutations, label="mutation")
        parent = _get(spec, path[:-1])
        if op == "value":
            parent[path[-1]] = copy.deepcopy(arg)  # a later mutation may change it in place
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[arg] = 1
            added.add(arg)
    left = {p[-1] for p in _paths(spec)} & added  # a later mutation may have dropped one
    roots = {r for k in left for r in (k.split(".")[0], repr(k.split(".")[0]).strip("'"))}
    code, _ = run_spec(spec, FILES.get(kind), roots=roots)
    assert not (left and code != 2), f"unknown keys {left} accepted: {spec!r}"


# ------------------------------------------------------- regression cases
def _with(kind: str, path: tuple, value: Any) -> dict:
    return _set(BASES[kind], path, value)


REGRESSIONS = [
    # field, spec, files, extra
    pytest.param("init.std", _with("two_layer_linear", ("init", "std"), 1e308), None, [],
                 id="huge-init-std-overflows"),
    pytest.param("init.std", _with("two_layer_linear", ("init", "std"), math.inf), None, [],
                 id="infinite-init-std"),
    pytest.param("init.p", _with("two_layer_linear", ("init",), {"kind": "gaussian", "p": -1000}),
                 None, [], id="init-p-overflows-width-power"),
    pytest.param("schedule.eta", _with("deep_linear", ("schedule", "eta"), math.inf), None, [],
                 id="infinite-eta"),
    pytest.param("problem.width", _with("shallow", ("problem", "width"), True), None, [],
                 id="boolean-width"),
    pytest.param("problem.data.x_singular_range",
                 _with("two_layer_linear", ("problem", "data", "x_singular_range"), [1.0, True]),
                 None, [], id="boolean-in-a-list-of-numbers"),
    pytest.param("schedule.eta", _with("two_layer_linear", ("schedule", "eta"), "abc"), None, [],
                 id="union-field-named-without-schema-suffix"),
    pytest.param("problem", _with("deep_linear", ("problem", "kind"), "\x1e"), None, [],
                 id="separator-character-in-a-kind"),
    pytest.param("problem.data.n_train",
                 _set(EXTRA_BASES["shallow_digits"], ("problem", "data", "n_train"), 2**64),
                 None, [], id="integer-beyond-64-bits"),
    pytest.param("sweep", BASES["two_layer_linear"], None, ["--set", "sweep=3"],
                 id="set-sweep-to-a-number"),
    pytest.param("quick", {**BASES["two_layer_linear"], "quick": 3}, None, ["--quick"],
                 id="quick-not-a-mapping"),
    pytest.param("quick.zz", {**BASES["two_layer_linear"], "quick": {"zz": 1}}, None, [],
                 id="quick-unknown-key"),
    pytest.param("problem.data.X", BASES["two_layer_npy"], {**FILES["two_layer_npy"], "X.npy": b""},
                 [], id="empty-npy-file"),
    pytest.param("init.W1", BASES["two_layer_npy"],
                 {**FILES["two_layer_npy"], "W1.npy": CORRUPT["npz archive"]}, [],
                 id="npz-archive-named-npy"),
    pytest.param("problem.data.X", _with("two_layer_npy", ("problem", "data", "X"), "X\x00.npy"),
                 FILES["two_layer_npy"], [], id="nul-in-path"),
    pytest.param("problem.data.X", _with("two_layer_npy", ("problem", "data", "X"), "x" * 300),
                 FILES["two_layer_npy"], [], id="file-name-too-long"),
    pytest.param("id", _with("two_layer_linear", ("id",), ".."), None, [],
                 id="id-escapes-out"),
    pytest.param("problem.'zz\\nq'", None, None, [], id="newline-in-unknown-key"),
]


@pytest.mark.parametrize("field, spec, files, extra", REGRESSIONS)
def test_regression_errors(field, spec, files, extra):
    if spec is None:  # an unknown key whose name holds a newline: still one line
        spec = copy.deepcopy(BASES["two_layer_linear"])
        spec["problem"]["zz\nq"] = 1
    code, text = run_spec(spec, files, extra, roots={field.split(".")[0]})
    assert code == 2 and text.startswith(f"error: {field}"), text


def test_regression_yaml_files():
    """Broken YAML, non-UTF-8 bytes and duplicate keys: one line naming the file."""
    for text in ("a: [", "\x00\x01", "problem: !!python/object:os.system {}", "? [a, b]\n: 3\n"):
        code, out = run_spec(text)
        assert code == 2 and "not valid YAML" in out, out
    dup = ("problem: {kind: two_layer_linear, width: 4, data: {kind: synthetic}}\n"
           "problem: {kind: shallow, width: 3}\n")
    code, out = run_spec(dup)
    assert code == 2 and "duplicate key 'problem'" in out, out
    code, out = run_spec("problem:\n  kind: two_layer_linear\n  width: 4\n  width: 5\n")
    assert code == 2 and "duplicate key 'width'" in out, out
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_bytes(b"problem: \xff\xfe")
        res = runner.invoke(app, ["run-spec", str(path), "--out", str(Path(tmp) / "o")])
        assert res.exit_code == 2 and "not UTF-8" in res.output, res.output


@pytest.mark.parametrize("spec, files", [
    # d0 = 1: no symmetric power holds n > 1 columns; the default t used to loop forever
    pytest.param(_with("shallow", ("problem", "data", "d0"), 1), None, id="shallow-d0-1"),
    # a step size that overflows the theory's powers: the run diverges instead of crashing
    pytest.param(_with("two_layer_linear", ("schedule", "eta"), 1e308), None,
                 id="two-layer-huge-eta"),
    # a ridge whose square overflows: the theory's constants go to inf, the run diverges
    pytest.param(_with("two_layer_linear", ("problem",),
                       {"kind": "two_layer_linear", "width": 4, "loss": "logistic",
                        "ridge": 1.3e154, "data": {"kind": "synthetic", "n": 2, "m": 1,
                                                   "target": "teacher_labels"}}),
                 None, id="two-layer-huge-ridge"),
    # a ridge so large that η_max lies below the root scan's smallest step
    pytest.param(_with("two_layer_linear", ("problem",),
                       {"kind": "two_layer_linear", "width": 4, "loss": "logistic",
                        "ridge": 5.2e298, "data": {"kind": "synthetic", "n": 2, "m": 1,
                                                   "target": "teacher_labels"}}),
                 None, id="two-layer-ridge-beyond-the-eta-scan"),
    # a diverged linear classifier run: its rows keep distinct times for the figures
    pytest.param(_with("linear_classifier", ("schedule", "eta"), 1e308), None,
                 id="classifier-huge-eta"),
    # a flow time Σ η near the float maximum: the figure's tick locator would overflow
    pytest.param(_with("linear_classifier", ("schedule", "eta"), 1.3333333333523812e308), None,
                 id="classifier-eta-near-float-max"),
    # an SGD batch beyond the samples: the epoch used to pad it, allocating batch columns
    pytest.param(_with("shallow", ("problem", "dynamics"), {"kind": "sgd", "batch": 10**9}),
                 None, id="shallow-sgd-huge-batch"),
    # a huge ω1: the expected kernel's quadrature would need panels of width 1/ω1
    pytest.param(_with("shallow", ("init",), {"kind": "omega", "omega1": 1e9, "omega2": 1.0}),
                 None, id="shallow-huge-omega1"),
    # a zero layer: the region constants (14) take log σ_max = log 0
    pytest.param(BASES["deep_npy"], {**FILES["deep_npy"], "A.npy": _npy(np.zeros((4, 3)))},
                 id="deep-zero-layer"),
])
def test_regression_runs(spec, files):
    code, text = run_spec(spec, files)
    assert code == 0, text
