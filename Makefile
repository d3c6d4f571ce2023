# Fresh machine to results in one command each:
#   make repro   set up .venv (pinned versions) and run the pipeline (dvc repro) on the built-in dataset
#   make test    set up .venv and run the test suite
# Both are idempotent: the venv is rebuilt only when requirements.lock or pyproject.toml change.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# dvc runs stage commands through the shell: the venv's python must come first on PATH.
export PATH := $(BIN):$(PATH)
PYTEST_ARGS ?=

.PHONY: setup repro test test-fast lint mutate bench bench-scale lock plots-template ferplus

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

repro: setup
	dvc repro

# A first model of real faces (docs/usage.md, "A first real model"): FERPlus on the CPU, then predict on a photo.
#   make ferplus FERPLUS=/data/ferplus PHOTO=photo.jpg
ferplus: setup
	@test -n "$(FERPLUS)" || { echo "make ferplus: set FERPLUS to the FERPlus folder (docs/usage.md)" >&2; exit 2; }
	dvc exp run -n ferplus-cpu $$(mvt-fer preset ferplus-cpu --root "$(FERPLUS)")
	$(if $(PHOTO),mvt-fer predict "$(PHOTO)" --out faces.csv --overlay-dir overlays/)

LINTED := src tests stages benchmarks experiments

test: setup lint
	python -m pytest $(PYTEST_ARGS)

# ruff (settings in pyproject.toml): lint and format check; `ruff format $(LINTED)` applies the format.
lint: setup
	ruff check $(LINTED)
	ruff format --check $(LINTED)

test-fast: setup
	python -m pytest -m "not slow" $(PYTEST_ARGS)

# Named bugs patched into a copy of the package, each of which the fast tests must catch (tests/mutate.py).
mutate: setup
	python tests/mutate.py

# .dvc/offline_plots.html (committed): DVC's plots page with its chart libraries inlined, from the npm registry.
plots-template: setup
	python -m mvt_fer.offline_plots

# Throughput ratios against bare baselines measured in the same run (ends with one JSON object).
bench: setup
	python benchmarks/bench.py

# Data at scale, simulated (docs/performance.md): prepare's peak memory and speed on generated AffectNet
# trees, the loader's images/s per core at 224 px (ends with one JSON object; ~2.5 min, ~7 GB of temp disk).
bench-scale: setup
	python benchmarks/scale.py --images 2000,20000 --size 224

# Regenerate the lock from the current venv (after changing pyproject.toml's dependencies).
lock:
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^mvt-fer' > requirements.lock
