# `make demo`: install, then the main job. `make test`: install, then the test suite.
PY := .venv/bin/python
DEMO_DIR ?= runs/demo

.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

# Trains point_mass skills (a few minutes on 2 CPU cores; rerunning resumes), then
# evaluates them: skill videos, trajectory plots, coverage, goal reaching with MPC;
# then evaluates the pretrained Ant on the paper's goals.
demo: setup
	$(PY) -m unsupervised_skill_learning.dads_off --flagfile=configs/point_mass.txt \
		--logdir=$(DEMO_DIR) --run_eval=1
	@echo "demo outputs: $(DEMO_DIR)/point_mass (train/, videos/, eval/)"
	# The shipped pretrained Ant walks to the paper's 6 goals (a copy: eval writes beside it).
	rm -rf $(DEMO_DIR)/pretrained_ant && mkdir -p $(DEMO_DIR) && cp -r pretrained/ant_xy $(DEMO_DIR)/pretrained_ant
	$(PY) -m unsupervised_skill_learning.dads_off --logdir=$(DEMO_DIR)/pretrained_ant \
		--run_train=0 --run_eval=1 --num_evals=1
	@echo "pretrained Ant: $(DEMO_DIR)/pretrained_ant/Ant-v1/eval/ (goal_plot.png, goal_*.mp4)"

# Two workers (the machine's 2 cores; most tests are single-threaded), one test module
# per worker at a time so module fixtures are built once.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# The speed suite and the side-by-side run against QDax's DADS (see docs/performance.md).
bench: setup
	$(PY) -m benchmarks.run
	$(PY) -m benchmarks.compare_qdax

clean:
	rm -rf runs .pytest_cache
