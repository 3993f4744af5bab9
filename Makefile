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

# Tests run in parallel (pytest-xdist, docs/testing.md): one worker per CPU; a worker that
# ends its share steals from the other (worksteal: a few tests take a minute, most less
# than a second). WORKERS=0 runs them in this one process (for --pdb, or to tell whether
# a failure comes from running in parallel).
WORKERS ?= logical
PYTEST   = $(PY) -m pytest -q -n $(WORKERS) --dist worksteal

# Everything CI runs (.ci/run): lint, then every tier in one pytest run.
test: $(STAMP) deps lint
	$(PYTEST) $(ARGS)

# The tiers alone (docs/testing.md); extra pytest options in ARGS, e.g. ARGS="-x -k vault".
# The unit tier in one process: starting workers costs more than its 15 s of tests.
unit: WORKERS = 0
unit: $(STAMP) deps
	$(PYTEST) tests/unit $(ARGS)

contract: $(STAMP) deps
	$(PYTEST) tests/contract $(ARGS)

e2e: $(STAMP) deps
	$(PYTEST) tests/e2e $(ARGS)

vault-tests: $(STAMP) deps
	$(PYTEST) vault/tests $(ARGS)

bench: $(STAMP) deps
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# The systemd service on a Debian machine (as root): the wheel into /opt/econnector/.venv,
# the econnector user, /etc/econnector/econnector.yaml if absent, /var/lib/econnector,
# the units and daemon-reload (docs/install-linux.md). INSTALL_ARGS=--dry-run shows the steps.
.PHONY: install-unit
install-unit:
	@sh service/install-deps.sh python
	PYTHON=$(PYTHON) sh service/install.sh $(INSTALL_ARGS)
