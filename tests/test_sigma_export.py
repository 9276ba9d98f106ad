"""`dropscan signatures export --sigma`: the pack as Sigma rules, checked by pySigma's own
validators, converted by a pySigma backend, and run back through `scan --sigma`."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import combined_line, dropscan_main
from dropscan.engine import Scan, ScanOptions, default_signatures

pytest.importorskip("sigma", reason="the sigma extra (pySigma) is not installed")

# attacktag and d3_fendtag download MITRE data at run time (no network in tests): the ATT&CK
# tags are checked against the technique-id shape below instead.
OFFLINE_UNAVAILABLE = {"attacktag", "d3_fendtag"}
ATTACK_TAG = re.compile(r"attack\.t\d{4}(\.\d{3})?")


def request_signatures() -> int:
    """Signatures that inspect a request field: each becomes one rule."""
    return sum(bool(s.fields & {"target", "user_agent", "referer"}) for s in default_signatures().signatures)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("sigma-export")
    r = dropscan_main("signatures", "export", "--sigma", str(d))
    assert r.returncode == 0, r.stderr
    n = len(default_signatures())
    assert r.stdout.startswith(f"{request_signatures()} Sigma rule(s) from {n} signature(s)")
    return d


def test_exported_rules_pass_pysigma_validators(exported):
    from sigma.collection import SigmaCollection
    from sigma.plugins import InstalledSigmaPlugins
    from sigma.validation import SigmaValidator

    rules = SigmaCollection.load_ruleset([str(exported)])
    assert len(rules.rules) == request_signatures()
    validators = InstalledSigmaPlugins.autodiscover().validators
    chosen = [v for name, v in validators.items() if name not in OFFLINE_UNAVAILABLE]
    assert len(chosen) >= 25
    assert SigmaValidator(chosen).validate_rules(rules) == []
    for rule in rules.rules:
        assert rule.logsource.category == "webserver"
        for tag in rule.tags:
            assert tag.namespace != "attack" or ATTACK_TAG.fullmatch(str(tag)), tag


def test_every_rule_says_what_the_sigma_form_loses(exported):
    for path in exported.iterdir():
        doc = yaml.safe_load(path.read_text())
        assert "What this Sigma form loses" in doc["description"]
    wget = yaml.safe_load((exported / "dropscan_dropper_wget.yml").read_text())
    assert {"attack.t1105", "attack.t1059.004"} <= set(wget["tags"]) and wget["level"] == "critical"
    assert "https://attack.mitre.org/techniques/T1105/" in wget["references"]
    rfi = yaml.safe_load((exported / "dropscan_rfi_remote_include.yml").read_text())
    assert "look-around or back-references" in rfi["description"]


def test_every_regex_compiles_in_re2_and_python_re(exported):
    """pySigma 2 and RE2-based SIEMs check `re` values with RE2, pySigma 1 with Python's re."""
    re2 = pytest.importorskip("re2")
    options = re2.Options()
    options.log_errors = False
    keyword_rules = 0
    for path in exported.iterdir():
        doc = yaml.safe_load(path.read_text())
        for name, sel in doc["detection"].items():
            if name == "condition":
                continue
            for key, values in sel.items():
                if key.endswith("|re|i"):
                    for v in values:
                        re.compile(v, re.IGNORECASE)
                        re2.compile(v, options=options)
                else:
                    assert key.endswith("|contains") and "keywords instead" in doc["description"]
                    keyword_rules += 1
    assert 0 < keyword_rules


def test_exported_rules_convert_with_a_pysigma_backend(exported):
    elasticsearch = pytest.importorskip("sigma.backends.elasticsearch")
    from sigma.collection import SigmaCollection

    queries = elasticsearch.LuceneBackend().convert(SigmaCollection.load_ruleset([str(exported)]))
    assert len(queries) == request_signatures()
    assert all(q.lstrip("(").startswith("cs-uri-query:") for q in queries)


def test_exported_rules_find_the_signatures_own_examples(exported, tmp_path):
    """Round trip: each signature's request examples, scanned with only its exported rule
    (through `scan --sigma`), are found; the rule ids are the exported ones. dropscan's runner
    sees decoded views, so this checks the export's logic; a SIEM sees the stored field."""
    from dropscan.detect.sigma.load import load_rules

    pack = load_rules(str(exported))
    assert len(pack.rules) == request_signatures() and not pack.not_applicable
    lines, expected = [], []
    for sig in default_signatures().signatures:
        rid = f"sigma:{yaml.safe_load((exported / _name(sig.id)).read_text())['id']}"
        for ex in sig.matches:
            if ex.field in ("target", "user_agent", "referer"):
                kw = (
                    {"target": ex.text}
                    if ex.field == "target"
                    else {"ua" if ex.field == "user_agent" else ex.field: ex.text}
                )
                lines.append(combined_line(**kw))
                expected.append(rid)
    log = tmp_path / "examples.log"
    log.write_bytes(b"".join(lines))
    found = {f.line_no: f.rule_ids for f in Scan([str(log)], ScanOptions(sigma=pack))}
    missed = {rid for n, rid in enumerate(expected) if rid not in found.get(n + 1, [])}
    # only a rule whose description says patterns were left out may miss examples
    partial = {
        f"sigma:{doc['id']}"
        for doc in (yaml.safe_load(p.read_text()) for p in exported.iterdir())
        if "are left out" in doc["description"]
    }
    assert missed <= partial
    assert len(expected) >= 170  # every request example of the pack


def _name(sig_id: str) -> str:
    return "dropscan_" + sig_id.replace(".", "_").replace("-", "_") + ".yml"


def test_export_never_writes_into_the_pack_it_reads(tmp_path):
    from conftest import GOOD_PACK

    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "mine.yaml").write_text(GOOD_PACK)
    r = dropscan_main("signatures", "export", "--sigma", str(pack), str(pack))
    assert r.returncode == 2 and "elsewhere than the signature pack" in r.stderr
    assert sorted(p.name for p in pack.iterdir()) == ["mine.yaml"]
    out = tmp_path / "out"
    r = dropscan_main("signatures", "export", "--sigma", str(out), str(pack))
    assert r.returncode == 0 and [p.name for p in out.iterdir()] == ["dropscan_my_rule.yml"]
