"""Sigma rules for ``category: webserver`` run next to the built-in signatures.

`load` reads rule files with pySigma (the ``sigma`` extra) and compiles each rule's condition
into a small tree of plain, picklable tests (`tree`), so process-pool and Dask workers evaluate
it without pySigma; `run` evaluates the trees on a parsed record's fields and their decoding
views. Rules that need a field an access log does not record, or a feature this evaluator does
not have, are listed as not applicable with the reason, never silently dropped.
"""
