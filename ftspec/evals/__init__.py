"""Layer 4: eval sets, sampling, scorers, reports and diffs."""
