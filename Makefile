# The two commands a fresh machine needs: `make quickstart` and `make test`.
PY ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: install quickstart test lint browser sandbox

$(BIN)/clauselens: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/clauselens sandbox

quickstart: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/clauselens run examples/quickstart.toml

# headless Chromium for the report test (Debian packages; needs root or sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver >/dev/null; fi; }

# bubblewrap isolates model-written rules (namespaces, read-only view); `clauselens doctor` lists the layers
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap >/dev/null; fi; }

test: install browser
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check src tests benchmarks
