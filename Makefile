# meshroll: `make test` installs what the tests need, then lints, type-checks and tests.
PYTHON ?= python3
PIP_STAMP := .cache/pip-$(shell sha256sum pyproject.toml | cut -c1-16).stamp
export MESHROLL_CACHE ?= $(HOME)/.cache/meshroll

.PHONY: test install deps controlplane prometheus lint typecheck imports pytest demo clean

test: install deps lint typecheck imports pytest

install: $(PIP_STAMP)

$(PIP_STAMP): pyproject.toml
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@mkdir -p .cache && touch $@

deps: controlplane prometheus

controlplane:
	bash tests/controlplane/build.sh

prometheus:
	bash tests/prometheus/install.sh

lint:
	$(PYTHON) -m ruff check rollout chaos analysis tests
	$(PYTHON) -m ruff format --check rollout chaos analysis

typecheck:
	$(PYTHON) -m mypy

imports:
	lint-imports

# The tests wait on servers, timers and real traffic far more than they compute: three workers on two
# cores keep both busy while one waits (12 minutes with two workers, under 10 with three, on such a machine),
# and still leave the timing of real traffic room. PYTEST_WORKERS=0 runs them in one process, in file order.
PYTEST_WORKERS ?= 3

pytest:
	$(PYTHON) -m pytest -q -n $(PYTEST_WORKERS)

demo: install
	meshroll demo

clean:
	rm -rf .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis
