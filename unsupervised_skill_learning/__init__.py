"""DADS and off-DADS: unsupervised skill discovery with skill dynamics, in JAX."""
