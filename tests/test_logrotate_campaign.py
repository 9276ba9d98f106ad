"""The logrotate campaign (tests/logrotate_campaign.py) in CI: a seeded sample of its matrix,
with Debian's real logrotate, a live writer, cron-style runs naming the directory and the live
file, ``--follow``, and SIGKILLed runs. By default one cell per logrotate mode (create,
copytruncate); ``DROPSCAN_CAMPAIGN=all`` runs the whole matrix (36 cells),
``DROPSCAN_CAMPAIGN=N`` a seeded sample of N cells."""

from __future__ import annotations

import os
import random

import pytest

from logrotate_campaign import LOGROTATE, MATRIX, MODES, run_cell

SEED = 11
WANTED = os.environ.get("DROPSCAN_CAMPAIGN")
if WANTED == "all":
    CELLS = MATRIX
elif WANTED:
    CELLS = random.Random(SEED).sample(MATRIX, int(WANTED))
else:  # by default one cell of each mode (create, copytruncate), the rest drawn by the seed
    _rng = random.Random(SEED)
    CELLS = [_rng.choice([c for c in MATRIX if c[0] == mode]) for mode in MODES]

pytestmark = [
    pytest.mark.skipif(LOGROTATE is None, reason="logrotate is not installed"),
    pytest.mark.slow,
]


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: "-".join(map(str, c)))
def test_every_id_is_reported_once_across_rotations_runs_and_kills(tmp_path, cell):
    f = run_cell(tmp_path, cell, SEED, rounds=2)
    assert f.problems == []
    assert f.written > 0 and f.runs > 0
    assert f.lost == {"dir": 0, "file": 0, "follow": 0}
    assert f.duplicated == {"dir": 0, "file": 0, "follow": 0}  # at-least-once only counting killed runs
