# One command per chore. `make run` and `make test` work on a fresh clone: they create .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test protos protos-check lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/agentledger up

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

protos: $(STAMP)
	PYTHON=$(PY) scripts/gen_protos.sh

# Fails when the committed generated code differs from what `make protos` would write.
protos-check: $(STAMP)
	PYTHON=$(PY) scripts/check_protos.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy agentledger/core agentledger/security services gateway

# The bench extra (LangGraph, for B4's comparison) is installed once, again when pyproject changes.
bench: $(STAMP)
	test $(VENV)/.installed-bench -nt pyproject.toml \
		|| { $(PY) -m pip install --quiet -e '.[dev,bench]' && touch $(VENV)/.installed-bench; }
	$(PY) -m bench $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
