"""The guides' examples are run as written: docs/notebook.md's command and Python blocks on
sample_logs/, each block's printed output compared with the text block that follows it."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil

import pytest

from conftest import ROOT, SAMPLE_LOGS
from dropscan.cli import app

pytest.importorskip("pyarrow")

BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(name: str) -> list[tuple[str, str]]:
    return BLOCK.findall((ROOT / "docs" / name).read_text(encoding="utf-8"))


def test_notebook_guide_runs_as_written(tmp_path, monkeypatch, runner):
    shutil.copytree(SAMPLE_LOGS, tmp_path / "sample_logs")
    monkeypatch.chdir(tmp_path)
    found = blocks("notebook.md")
    assert [k for k, _ in found].count("python") >= 4
    namespace: dict = {}
    for i, (kind, text) in enumerate(found):
        if kind == "console":
            for cmd in (ln[2:] for ln in text.splitlines() if ln.startswith("$ ")):
                argv = shlex.split(cmd)
                assert argv[0] == "dropscan"
                r = runner.invoke(app, argv[1:])
                assert r.exit_code == 1, r.output  # findings
        elif kind == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(text, f"notebook.md block {i}", "exec"), namespace)
            following = found[i + 1] if i + 1 < len(found) else ("", "")
            if following[0] == "text":
                assert out.getvalue() == following[1], f"block {i} prints something else than the guide shows"
    per_day = namespace["per_day"]
    assert per_day.loc["2026-11-27", "dropper"] == 8 and per_day.to_numpy().sum() == len(namespace["df"]) == 16
