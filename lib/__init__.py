"""Algorithm-agnostic infrastructure: priors, networks, buffers, logging, video."""
