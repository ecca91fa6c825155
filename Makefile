# `make demo`: install, then the main job. `make test`: install, then the test suite.
PY := .venv/bin/python
DEMO_DIR ?= runs/demo

.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

# Trains point_mass skills (a few minutes on 2 CPU cores; rerunning resumes), then
# evaluates them: skill videos, trajectory plots, coverage, goal reaching with MPC.
demo: setup
	$(PY) -m unsupervised_skill_learning.dads_off --flagfile=configs/point_mass.txt \
		--logdir=$(DEMO_DIR) --run_eval=1
	@echo "demo outputs: $(DEMO_DIR)/point_mass (train/, videos/, eval/)"

test: setup
	$(PY) -m pytest -q tests

# The speed suite and the side-by-side run against QDax's DADS (see README, Performance).
bench: setup
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.compare_qdax

clean:
	rm -rf runs .pytest_cache
