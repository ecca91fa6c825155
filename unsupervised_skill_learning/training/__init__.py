"""Training: the learner's pure epoch steps and the loop around them."""
