"""Statistics for A/B tests and evals: pure functions over sufficient statistics or value arrays."""
