"""Archives of logs (.tar, .tar.gz/.tgz, .zip) are scanned member by member."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile

import pytest

import dropscan
from conftest import SAMPLE_LOGS, dropscan_main


def _tree(tmp_path):
    root = tmp_path / "tree"
    for host, names in (
        ("web1", ["access.log", "access.log.1", "access.log.2.gz"]),
        ("web2", ["other_vhosts_access.log"]),
    ):
        (root / host).mkdir(parents=True)
        for n in names:
            shutil.copy(SAMPLE_LOGS / n, root / host / n)
    return root


def _findings(path):
    s = dropscan.scan(str(path))
    return [(f.log_file, f.line_no, tuple(f.rule_ids), f.host) for f in s], s.summary()


@pytest.mark.parametrize("kind", ["tgz", "tar", "tar.bz2", "zip"])
def test_an_archive_gives_the_findings_of_the_tree_it_holds(tmp_path, kind):
    root = _tree(tmp_path)
    archive = tmp_path / f"logs.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            for p in sorted(root.rglob("*")):
                z.write(p, p.relative_to(root).as_posix())
    else:
        mode = {"tgz": "w:gz", "tar": "w", "tar.bz2": "w:bz2"}[kind]
        with tarfile.open(archive, mode) as t:
            t.add(root, arcname=".")
    tree, _ = _findings(root)
    packed, summary = _findings(archive)
    assert len(packed) == len(tree) == 16
    strip = len(str(archive)) + 2
    assert [(lf[strip:].removeprefix("./"), n, r, h) for lf, n, r, h in packed] == [
        (lf[len(str(root)) + 1 :], n, r, h) for lf, n, r, h in tree
    ]
    assert all(f["path"].startswith(f"{archive}!/") for f in summary["files"])
    assert summary["totals"]["rejected"] == 0 and summary["totals"]["errors"] == 0
    assert {h for *_x, h in packed} == {"web1", "legacy.example.com", "api.example.com"}


def test_members_that_are_not_logs_or_not_files_are_left_out(tmp_path):
    archive = tmp_path / "logs.tar"
    with tarfile.open(archive, "w") as t:
        data = (SAMPLE_LOGS / "access.log").read_bytes()
        info = tarfile.TarInfo("web1/access.log")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
        readme = tarfile.TarInfo("README.txt")
        readme.size = 2
        t.addfile(readme, io.BytesIO(b"hi"))
        link = tarfile.TarInfo("web1/evil_access.log")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        t.addfile(link)
    _found, summary = _findings(archive)
    assert [f["path"] for f in summary["files"]] == [f"{archive}!/web1/access.log"]


def test_a_plain_log_is_not_taken_for_an_archive(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(b"PK\x03\x04 not a zip\n")
    _found, summary = _findings(log)
    assert [f["path"] for f in summary["files"]] == [str(log)]


def test_report_names_hosts_from_the_folders_inside_the_archive(tmp_path):
    root = _tree(tmp_path)
    archive = tmp_path / "logs.tgz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(root / "web1", arcname="web1")
    p = dropscan_main("report", str(archive), "-f", "json")
    assert p.returncode == 1, p.stderr
    assert '"host": "web1"' in p.stdout


def test_an_archive_under_state_is_read_whole_each_run_without_error(tmp_path):
    root = _tree(tmp_path)
    archive = tmp_path / "logs.tgz"
    with tarfile.open(archive, "w:gz") as t:
        t.add(root / "web1", arcname="web1")
    state = tmp_path / "state.json"
    for _ in range(2):
        p = dropscan_main("scan", str(archive), "--state", str(state), "-f", "jsonl")
        assert p.returncode == 1 and "error" not in p.stderr, p.stderr
        assert len(p.stdout.splitlines()) == 13
