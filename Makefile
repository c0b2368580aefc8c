# The README's two commands: `make demo` and `make test`. Each creates .venv when missing and
# installs the project with the CPU constraints (see docs/design.md, section 8) before it runs.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev

export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export HF_DATASETS_OFFLINE=1
export MPLBACKEND=Agg

.PHONY: setup demo test lint bench mutate clean

# A new top-level package (a new */__init__.py) needs a reinstall of the editable package.
$(STAMP): pyproject.toml constraints-cpu.txt $(wildcard */__init__.py)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints-cpu.txt -e '.[dev,empirical]'
	touch $(STAMP)

setup: $(STAMP)

# The main job: audit, theory, simulation, synthetic-world experiments, figures, report.
demo: $(STAMP)
	$(VENV)/bin/elasticity reproduce --preset quick

# pytest exits 5 when it collected no test: that means discovery broke, so say so and fail.
test: $(STAMP)
	$(VENV)/bin/ruff check --quiet .
	@$(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5): test discovery is broken"; exit 1; fi; \
	exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/bench_theory.py
	$(PY) benchmarks/bench_sim.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_experiment.py

# Mutation testing (tools/mutate.py): one small bug at a time into theory/, sim/ and the
# statistics and measurement code; not part of CI (about 45 min on 2 cores).
mutate: $(STAMP)
	$(PY) tools/mutate.py --jobs 2

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
