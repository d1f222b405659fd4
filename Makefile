# make demo: set up and run the sample team's week; make test: set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench eval lint clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/signalloop demo

# every tier on both cores (an idle worker takes tests from the busy one: --dist worksteal), then the few tests
# timed against the clock to 100 ms, one at a time with nothing else running (-m alone)
test: $(STAMP)
	rm -f .test-migrate.db && DATABASE_URL=sqlite:///.test-migrate.db $(BIN)/signalloop db upgrade && rm -f .test-migrate.db*
	$(BIN)/pytest -n 2 --dist worksteal -m "not alone" --durations=15
	$(BIN)/pytest -m alone --durations=5

# the unit tier: no database, no Slack, no server, no subprocess (tests/unit, and the pure tests of the others)
test-fast: $(STAMP)
	$(BIN)/pytest -m unit

bench: $(STAMP)
	$(BIN)/python -m bench.run

eval: $(STAMP)
	$(BIN)/pip install --quiet -e '.[eval]'
	$(BIN)/python -m eval.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) *.egg-info signalloop-demo.db* signalloop-demo-chart.png
