# overparam — everything installs into .venv with the system Python (3.11+), from the lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements.lock
STAMP  := $(VENV)/.installed
OUT    ?= overparam-results
# The lock is written by uv (pinned here so that a regenerated lock does not depend on
# which uv happens to be installed); `make lock` installs it into .venv-tools.
UV_VERSION := 0.13.9
TOOLS  := .venv-tools
UV     := $(TOOLS)/bin/uv
COMPILE = $(UV) pip compile pyproject.toml --extra test --universal --python-version 3.11 \
          --generate-hashes --quiet

.PHONY: demo test bench lint install lock test-latest test-oldest browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Exact versions and hashes from the lock, then overparam itself without resolving anything.
$(STAMP): $(LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/overparam reproduce --quick --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# Regenerate the lock from pyproject.toml: the newest versions its ranges allow today.
lock: $(UV)
	$(COMPILE) -o $(LOCK)

# The newest versions pyproject.toml allows, in a venv of their own: drift shows here first.
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade pip
	.venv-latest/bin/python -m pip install --upgrade --upgrade-strategy eager -e '.[test]'
	.venv-latest/bin/python -m pip list --format=freeze | grep -iE '^(jax|jaxlib|numpy|scipy|pandas|pyarrow|matplotlib|pydantic|diffrax|dask|scikit-learn)=='
	.venv-latest/bin/python -m pytest -q -n 2 --dist loadgroup

# The oldest versions pyproject.toml claims (its lower bounds), in a venv of their own.
test-oldest: $(UV)
	rm -rf .venv-oldest
	$(COMPILE) --resolution lowest-direct -o .venv-oldest.lock
	$(PYTHON) -m venv .venv-oldest
	.venv-oldest/bin/python -m pip install --quiet --upgrade pip
	.venv-oldest/bin/python -m pip install --require-hashes --no-deps -r .venv-oldest.lock
	.venv-oldest/bin/python -m pip install --no-deps -e .
	.venv-oldest/bin/python -m pytest -q -n 2 --dist loadgroup

# Headless Chromium (Debian package) for the report's browser test; skipped without it.
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=; if [ "$$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi; \
	  $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends chromium; }

clean:
	rm -rf $(VENV) $(TOOLS) .venv-latest .venv-oldest .venv-oldest.lock $(OUT) .pytest_cache
