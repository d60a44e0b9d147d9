"""Layer 5: the doit task graph, lockfile, run-cache, receipts and locking."""
