# `make run` serves the line on http://127.0.0.1:5000 ; `make test` runs every test; `make lint`
# runs ruff. They create the virtualenv .venv from requirements-dev.txt (the line's requirements.txt
# plus the test and lint tools) the first time; production installs requirements.txt only.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: run test lint check serve clean fixtures map fallback studio lock

# Python's version first, read from `python -V` (which any Python answers): an older one would
# otherwise fail later, in pip, with a message that does not say why.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	@v=$$($(PYTHON) -V 2>&1 | sed -n 's/^Python \([0-9]*\)\.\([0-9]*\).*/\1 \2/p'); set -- $$v; \
	if [ -z "$$v" ]; then \
	  echo "The line needs Python 3.11 or newer, and there is no '$(PYTHON)' here: install 3.11 (apt-get install python3.11) and run make again." >&2; exit 1; \
	elif [ "$$1" -lt 3 ] || { [ "$$1" -eq 3 ] && [ "$$2" -lt 11 ]; }; then \
	  echo "The line needs Python 3.11 or newer; $(PYTHON) is $$1.$$2: install 3.11 (apt-get install python3.11) and run make again, or make PYTHON=python3.11." >&2; exit 1; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Local development: without TWILIO_AUTH_TOKEN, signatures are skipped (IVR_ALLOW_UNSIGNED=1) and
# the app answers 127.0.0.1 only; with it, signatures are checked as in production.
run: $(BIN)/.installed
	@if [ -z "$$TWILIO_AUTH_TOKEN" ]; then \
	  echo "No TWILIO_AUTH_TOKEN: serving WITHOUT signature checks, on 127.0.0.1 only."; \
	  export IVR_ALLOW_UNSIGNED=1; fi; \
	$(BIN)/python -m ivr run --port $(PORT)

# As in production (Procfile): gunicorn, signatures on. Needs TWILIO_AUTH_TOKEN. `ivr serve` starts
# the line once first, so a broken menu file or a missing setting is said in one sentence.
serve: $(BIN)/.installed
	PORT=$(PORT) $(BIN)/python -m ivr serve

# Four pytest processes (pytest-xdist) on this project's two cores: many tests wait on servers,
# browsers and clocks rather than compute; every test picks its own ports and folders. Whole files
# are handed out, longest first (tests/conftest.py, LONG_FIRST), so a file's browser or server is
# started once and the four processes end together. pytest's plugins are named rather than found:
# found, hypothesis's and xdist's whole packages are assertion-rewritten in each process (3 s of CPU
# each, every run). Measured on fresh clones: docs/performance.md, "The test suite's time".
test: $(BIN)/.installed
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(BIN)/python -m pytest -p xdist.plugin -p _hypothesis_pytestplugin \
	  -q -n 4 --dist loadfile --no-loadscope-reorder

# The operators' studio: the tree, a phone and the check in a browser, on http://127.0.0.1:8765
studio: $(BIN)/.installed
	$(BIN)/python -m ivr studio --port $(or $(STUDIO_PORT),8765)

# pycodestyle, pyflakes and import order (pyproject.toml [tool.ruff]); `ruff check --fix .` fixes most.
lint: $(BIN)/.installed
	$(BIN)/ruff check .

check: $(BIN)/.installed
	$(BIN)/python -m ivr check

# After an edit that `make check` accepts: record the golden calls again from menus.yaml, and
# draw the README's map again (both are what the tests expect of the shipped menus).
fixtures: $(BIN)/.installed
	$(BIN)/python tests/fixtures/record_all.py
	$(BIN)/python -m ivr map --readme README.md

# The README's map of the phone tree alone.
map: $(BIN)/.installed
	$(BIN)/python -m ivr map --readme README.md

# After a change to menus.yaml's numbers or the prompts: the document Twilio plays when the line is
# down, committed, and pasted into Twilio again (docs/operations.md). `make check` says when it is stale.
fallback: $(BIN)/.installed
	$(BIN)/python -m ivr fallback --out fallback.xml

# After a change to pyproject.toml's dependencies: pin them again, with everything they need and
# their hashes (pip-tools), keeping today's versions where they still fit; `make lock UPGRADE=1`
# moves every pin to the newest release. requirements-dev.txt takes production's versions.
LOCK := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade)
lock: $(BIN)/.installed
	$(LOCK) --output-file requirements.txt pyproject.toml
	sed -i '/^packaging==/i # the gevent worker of gunicorn imports packaging without declaring it (pyproject.toml says so too)' requirements.txt
	$(LOCK) --allow-unsafe --extra dev --constraint requirements.txt --output-file requirements-dev.txt pyproject.toml

clean:
	rm -rf $(VENV)
