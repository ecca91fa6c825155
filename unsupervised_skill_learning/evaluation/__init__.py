"""Evaluation: model I/O, skill videos and coverage, and the --run_eval entry."""
