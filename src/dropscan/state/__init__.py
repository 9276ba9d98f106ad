"""What a run remembers between runs: incremental positions and their lock."""
