# Two entry points that work on a fresh clone with only Python 3.11+:
#   make demo   run the main job (the demo on embedded defaults)
#   make test   run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck bench lock clean

$(STAMP): requirements/dev.lock pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("tlh needs Python 3.11+") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tlh demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy ledger strategies

bench: $(STAMP)
	$(BIN)/python bench/ledger_report.py

# Regenerate the hash-pinned lock files (needs uv: pip install uv): the development lock, and
# for the image (its Python: IMAGE_PYTHON matches the Dockerfile's base) the runtime
# dependencies and the build backend, held to the versions of the development lock, which the
# tests ran.
IMAGE_PYTHON := 3.12
BUILD_REQUIRES := $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements/dev.lock
	uv pip compile pyproject.toml --python-version $(IMAGE_PYTHON) --generate-hashes -c requirements/dev.lock -o requirements/runtime.lock
	$(BUILD_REQUIRES) | uv pip compile - --python-version $(IMAGE_PYTHON) --generate-hashes -c requirements/dev.lock -o requirements/build.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
