"""What a run writes: findings, the rendered report, output files, progress."""
