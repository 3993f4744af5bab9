# Newcomer entry points: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml vault/pyproject.toml testsupport/pyproject.toml | cksum | cut -d' ' -f1)
DATA   ?= data

.PHONY: run test lint typecheck unit contract e2e vault-tests demo-drop deps clean bench

# One installation at a time: a second make (`make demo-drop` while `make run` is
# still installing) waits for the first on a lock, then finds the stamp and goes on.
$(STAMP): pyproject.toml vault/pyproject.toml testsupport/pyproject.toml
	@mkdir -p $(VENV); exec 9>$(VENV)/.install.lock; \
	if command -v flock >/dev/null && ! flock -n 9; then \
	  echo "econnector: another make is installing into $(VENV)/; waiting for it to finish"; \
	  flock 9; \
	fi; \
	if [ -e $@ ]; then exit 0; fi; \
	set -e; \
	sh service/install-deps.sh python; \
	test -x $(PY) || $(PYTHON) -m venv $(VENV); \
	$(PY) -m pip install --quiet --upgrade pip; \
	$(PY) -m pip install --quiet -e ./vault -e ./testsupport -e '.[local,test]'; \
	rm -f $(VENV)/.installed-*; \
	touch $@

deps:
	@sh service/install-deps.sh test

run: $(STAMP)
	@$(VENV)/bin/econnector demo-setup --root $(DATA) >/dev/null
	@echo "econnector: embedded default in $(DATA)/ (local vault, TEST signing identity)"
	@echo "econnector: in another terminal run 'make demo-drop' to drop sample documents"
	$(VENV)/bin/econnector run -c $(DATA)/econnector.yaml

demo-drop: $(STAMP)
	$(VENV)/bin/econnector demo-drop -c $(DATA)/econnector.yaml

lint: $(STAMP) typecheck
	$(PY) -m ruff check conftest.py daemon vault testsupport tests bench

typecheck: $(STAMP)
	$(PY) -m mypy

# Everything CI runs (.ci/run): lint, then every tier in one pytest run.
test: $(STAMP) deps lint
	$(PY) -m pytest -q

# The tiers alone (docs/testing.md); extra pytest options in ARGS, e.g. ARGS="-x -k vault".
unit: $(STAMP) deps
	$(PY) -m pytest -q tests/unit $(ARGS)

contract: $(STAMP) deps
	$(PY) -m pytest -q tests/contract $(ARGS)

e2e: $(STAMP) deps
	$(PY) -m pytest -q tests/e2e $(ARGS)

vault-tests: $(STAMP) deps
	$(PY) -m pytest -q vault/tests $(ARGS)

bench: $(STAMP) deps
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
