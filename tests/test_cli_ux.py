"""The command line as a newcomer meets it: --version, --help, completion, format names, colour,
broken pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

import pytest

from conftest import SAMPLE_LOGS, cli_run

COMMANDS = [
    ["iocs"],
    ["signatures", "export"],
    [],
    ["scan"],
    ["report"],
    ["rules"],
    ["explain"],
    ["signatures", "list"],
    ["signatures", "test"],
    ["completion"],
]


def test_version(runner):
    for flag in ("--version", "-V"):
        r = cli_run(runner, [flag])
        assert r.exit_code == 0 and r.stdout == f"dropscan {version('dropscan')}\n"


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "dropscan")
def test_help_has_no_python_types_and_lists_examples_and_exit_codes(runner, cmd):
    r = cli_run(runner, [*cmd, "--help"])
    assert r.exit_code == 0
    text = r.stdout
    for python_type in ("<str>", "<int>", "<float>", "list[", "{paths}"):
        assert python_type not in text
    assert "Examples:" in text and "Exit codes:" in text
    for code in ("0 ", "1 ", "2 ", "3 ", "75 ", "130 "):
        assert f"\n    {code}" in text
    if cmd in (["scan"], ["report"], ["rules"]):
        assert "PATHS..." in text


def test_scan_help_names_values_for_humans(runner):
    text = cli_run(runner, ["scan", "--help"]).stdout
    assert "Usage: dropscan scan [OPTIONS] PATHS..." in text
    for shown in ("--output FILE", "--jobs N", "--since TIME", "--signatures DIR", "--interval SECONDS"):
        assert shown in text


def test_shell_completion_script(runner):
    for shell, marker in (("bash", "complete "), ("zsh", "compdef"), ("fish", "complete --command dropscan")):
        r = cli_run(runner, ["completion", shell])
        assert r.exit_code == 0 and marker in r.stdout, shell


def test_bash_completion_completes_commands_and_options():
    """What the bash script asks the program, and the program's answer."""

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_DROPSCAN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        out = subprocess.run([sys.executable, "-m", "dropscan"], env=env, capture_output=True, text=True, check=False)
        return out.stdout.split()

    assert complete("dropscan sc", 1) == ["scan"]
    assert "--format" in complete("dropscan scan --fo", 2)
    assert complete("dropscan scan -f js", 3) == ["jsonl", "json"]


def test_json_means_json_lines_on_scan_and_jsonl_is_accepted_on_report(runner):
    jsonl = cli_run(runner, ["scan", str(SAMPLE_LOGS), "-f", "jsonl"])
    as_json = cli_run(runner, ["scan", str(SAMPLE_LOGS), "-f", "json"])
    assert as_json.exit_code == 1 and as_json.stdout == jsonl.stdout
    doc = json.loads(cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", "json"]).stdout)
    line = cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", "jsonl"]).stdout
    assert line.count("\n") == 1 and json.loads(line) == doc
    listed = cli_run(runner, ["signatures", "list", "-f", "json"]).stdout.splitlines()
    assert listed == cli_run(runner, ["signatures", "list", "-f", "jsonl"]).stdout.splitlines()
    assert all(json.loads(x)["id"] for x in listed)


COLOR = "\x1b["


def _table(runner, *args, env=None):
    return cli_run(runner, [*args, "scan", str(SAMPLE_LOGS / "access.log"), "-f", "table"], env=env).stdout


def test_color_always_never_and_no_color(runner):
    # the runner's stdout is not a terminal: auto means no colour, always forces it
    assert COLOR not in _table(runner)
    assert COLOR in _table(runner, "--color", "always")
    assert COLOR not in _table(runner, "--color", "never")
    assert COLOR in _table(runner, "--color", "always", env={"NO_COLOR": "1"})  # an explicit choice wins


def test_color_auto_on_a_terminal_honours_no_color(monkeypatch):
    from dropscan.cli import common as cli

    class Tty:
        def isatty(self):
            return True

    monkeypatch.setitem(cli._settings, "color", cli.ColorMode.auto)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert cli._color(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not cli._color(Tty())
    monkeypatch.setenv("NO_COLOR", "")  # no-color.org: present *and not empty*
    assert cli._color(Tty())
    monkeypatch.setenv("TERM", "dumb")
    assert not cli._color(Tty())


@pytest.mark.parametrize("cmd", [["signatures", "list"], ["scan", str(SAMPLE_LOGS), "-f", "jsonl"]])
def test_broken_pipe_is_not_an_error(cmd):
    """`dropscan signatures list | head`: the reader is gone before the first write."""
    r, w = os.pipe()
    os.close(r)  # every write now fails with EPIPE, deterministically
    err = subprocess.run([sys.executable, "-m", "dropscan", *cmd], stdout=w, stderr=subprocess.PIPE, check=False)
    os.close(w)
    assert err.returncode == 0, err.stderr
    assert err.stderr == b""


def test_every_machine_output_carries_the_schema_version(runner, tmp_path):
    from dropscan.detect.findings import SCHEMA_VERSION

    summary = tmp_path / "s.json"
    lines = cli_run(runner, ["scan", str(SAMPLE_LOGS), "-f", "json", "--summary", str(summary)]).stdout.splitlines()
    assert lines and all(json.loads(x)["schema_version"] == SCHEMA_VERSION for x in lines)
    assert json.loads(summary.read_text())["schema_version"] == SCHEMA_VERSION
    for fmt in ("json", "jsonl"):
        assert json.loads(cli_run(runner, ["report", str(SAMPLE_LOGS), "-f", fmt]).stdout)["schema_version"] == 1
    line = (SAMPLE_LOGS / "access.log").read_text().splitlines()[5]
    assert json.loads(cli_run(runner, ["explain", "--json", line]).stdout)["schema_version"] == SCHEMA_VERSION
    listed = cli_run(runner, ["signatures", "list", "-f", "json"]).stdout.splitlines()
    assert all(json.loads(x)["schema_version"] == SCHEMA_VERSION for x in listed)
    assert json.loads(cli_run(runner, ["config", "show", "-f", "json"]).stdout)["schema_version"] == SCHEMA_VERSION


def test_help_names_every_category_and_severity(runner):
    from dropscan.detect.signatures import CATEGORIES, SEVERITIES

    text = " ".join(cli_run(runner, ["scan", "--help"]).stdout.split())
    assert all(c in text for c in CATEGORIES) and all(s in text for s in SEVERITIES)
