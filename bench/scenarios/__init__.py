"""The bench scenarios; each is a generator yielding one list of metrics per run (see bench.model)."""
