# The two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv and install the locked dependencies first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
UV_VERSION := 0.13.8
STAMP  := $(VENV)/.installed

export CREWAI_DISABLE_TELEMETRY := true
export CREWAI_TRACING_ENABLED := false
export OTEL_SDK_DISABLED := true
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint typecheck unit lock bench clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# uv installs the lock exactly (no resolution, so no surprise torch) in seconds.
$(STAMP): $(UV) requirements/lock.txt pyproject.toml
	VIRTUAL_ENV=$(VENV) $(UV) pip sync --quiet --python $(BIN)/python requirements/lock.txt
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/agentmail-tools demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

unit: install
	$(BIN)/python -m pytest -q -m "not integration and not slow"

bench: install
	$(BIN)/python bench/run_all.py

# Re-resolve the lock after changing dependencies in pyproject.toml.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra all --extra dev --python-version 3.11 \
		--override requirements/overrides.txt --quiet -o requirements/lock.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
