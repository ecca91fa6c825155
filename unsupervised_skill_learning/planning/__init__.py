"""Model-predictive control over learned skills (see `planners`)."""
