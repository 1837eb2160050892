# Two commands from a fresh clone: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format bench clean browser docs lowest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/medattn demo --out runs/demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench ci
	$(BIN)/ruff format --check src tests bench ci

format: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests bench ci
	$(BIN)/ruff check --fix src tests bench ci

# HTML outputs (reader sheets, reports) are tested in headless Chromium from Debian's packages.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium chromium-driver >/dev/null || \
			{ apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }; \
		  else echo "chromium not installed and not root: browser tests will be skipped"; fi; }

# The lowest allowed version of every direct dependency (torch/torchvision as in the main install), in its own venv,
# rebuilt when pyproject.toml changes: an import-and-smoke subset proves the declared floors work.
LOWEST := .venv-lowest

$(LOWEST)/.installed: pyproject.toml ci/lowest_versions.py
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python ci/lowest_versions.py --with pytest > $(LOWEST)/requirements.txt
	$(LOWEST)/bin/pip install --quiet -r $(LOWEST)/requirements.txt
	$(LOWEST)/bin/pip install --quiet --no-deps -e .
	touch $@

lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider ci/test_lowest_versions.py

test: lint browser lowest
	$(BIN)/python -m pytest -n 2 --durations=15

# docs/cli.md is generated from the commands' help; tests/test_cli_docs.py fails when it is stale.
docs: $(VENV)/.installed
	$(BIN)/python -m medattn.cli.docs docs/cli.md

bench: $(VENV)/.installed
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(LOWEST) runs .pytest_cache .ruff_cache
