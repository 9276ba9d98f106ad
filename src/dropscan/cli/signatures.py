"""``dropscan signatures list|test|export``."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from ..errors import UsageError
from .common import EXIT_CLEAN, EXIT_FINDINGS, ListFormat, _Command, _epilog, sig_app


@sig_app.command(
    "list", cls=_Command, epilog=_epilog("dropscan signatures list | head", "dropscan signatures list my-pack/ -f json")
)
def signatures_list(
    path: Annotated[
        str | None, typer.Argument(metavar="[PACK]", help="Signature directory or file [default: built-in].")
    ] = None,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.table,
) -> None:
    """List the signatures of a pack."""
    from ..detect.findings import SCHEMA_VERSION
    from ..detect.signatures import SignatureSet
    from ..engine import default_signatures

    sigs = SignatureSet.load(path) if path else default_signatures()
    if fmt in (ListFormat.jsonl, ListFormat.json):
        for s in sigs.signatures:
            sys.stdout.write(
                json.dumps(
                    {
                        "schema_version": SCHEMA_VERSION,
                        "id": s.id,
                        "name": s.name,
                        "category": s.category,
                        "severity": s.severity,
                        "egress": s.egress,
                        "fields": sorted(s.fields),
                        "keywords": list(s.keywords),
                        "patterns": list(s.pattern_texts),
                        "references": list(s.references),
                        "tags": list(s.tags),
                        "source": s.source,
                        "examples": {"match": len(s.matches), "no_match": len(s.no_matches)},
                    }
                )
                + "\n"
            )
        return
    from ..outputs.safety import term

    sys.stdout.write(f"{'ID':<34} {'CATEGORY':<13} {'SEVERITY':<8} {'EGRESS':<6} NAME\n")
    for s in sigs.signatures:  # a pack from elsewhere is text from elsewhere: names are escaped
        egress = "yes" if s.egress else "no"
        sys.stdout.write(f"{s.id:<34} {s.category:<13} {s.severity:<8} {egress:<6} {term(s.name)}\n")
    sys.stdout.write(f"{len(sigs)} signatures\n")


@sig_app.command("test", cls=_Command, epilog=_epilog("dropscan signatures test", "dropscan signatures test my-pack/"))
def signatures_test(
    path: Annotated[
        str | None, typer.Argument(metavar="[PACK]", help="Signature directory or file [default: built-in].")
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Seconds a pattern may take on an adversarial input.")
    ] = 1.0,
) -> None:
    """Run every signature's examples through the pipeline and lint every pattern."""
    from ..detect.signatures import SignatureSet
    from ..engine import default_signatures
    from ..outputs.safety import term
    from ..selftest import lint_all, run_examples

    sigs = SignatureSet.load(path) if path else default_signatures()
    results = run_examples(sigs)
    failures = [r for r in results if not r.ok]
    for r in failures:
        kind = "match" if r.expect_match else "no_match"
        sys.stdout.write(term(f"FAIL {r.sig.id} {kind} [{r.example.field}] {r.example.text!r}: {r.problem}") + "\n")
    lint = lint_all(sigs, timeout)
    for p in lint:
        sys.stdout.write(term(f"FAIL lint {p}") + "\n")
    sys.stdout.write(
        f"{len(sigs)} signatures, {len(results)} examples, {len(failures)} example failure(s), "
        f"{len(lint)} lint failure(s)\n"
    )
    raise typer.Exit(EXIT_FINDINGS if failures or lint else EXIT_CLEAN)


@sig_app.command(
    "export",
    cls=_Command,
    epilog=_epilog(
        "dropscan signatures export --sigma sigma-rules/", "dropscan signatures export my-pack/ --sigma out/"
    ),
)
def signatures_export(
    sigma: Annotated[
        str,
        typer.Option("--sigma", metavar="DIR", help="Write one Sigma rule (category webserver) per signature here."),
    ],
    path: Annotated[
        str | None, typer.Argument(metavar="[PACK]", help="Signature directory or file [default: built-in].")
    ] = None,
) -> None:
    """Write the signatures as Sigma rules for SIEMs (see docs/interop.md for what they lose)."""
    from ..detect.signatures import SignatureSet
    from ..engine import default_signatures
    from ..exports.sigma_export import export
    from ..outputs.safety import term

    if path and os.path.exists(sigma) and os.path.samefile(os.path.realpath(path), os.path.realpath(sigma)):
        raise UsageError("--sigma: write the rules elsewhere than the signature pack they come from")
    sigs = SignatureSet.load(path) if path else default_signatures()
    written = export(sigs, sigma)
    sys.stdout.write(f"{len(written)} Sigma rule(s) from {len(sigs)} signature(s) written to {term(sigma)}\n")
