# `make demo`: install, then the main job. `make test`: install, then the test suite.
PY := .venv/bin/python
DEMO_DIR ?= runs/demo

.PHONY: setup demo test bench clean

setup:
	bash scripts/setup.sh

demo: setup
	$(PY) -m unsupervised_skill_learning.random_skills --environment=Ant-v1 --num_skills_to_show=3 --out=$(DEMO_DIR)

test: setup
	$(PY) -m pytest -q tests

clean:
	rm -rf runs .pytest_cache
