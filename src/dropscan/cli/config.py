"""``dropscan config show``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from .common import ConfigOpt, ListFormat, _Command, _effective_settings, _epilog, config_app


@config_app.command(
    "show", cls=_Command, epilog=_epilog("dropscan config show", "dropscan config show --config /etc/dropscan.toml")
)
def config_show(
    config: ConfigOpt = None,
    fmt: Annotated[ListFormat, typer.Option("--format", "-f")] = ListFormat.table,
) -> None:
    """Print every setting, its effective value and where it came from (default, which file)."""
    from ..config import user_config_path
    from ..detect.findings import SCHEMA_VERSION
    from ..outputs.safety import term

    st = _effective_settings(config, None, None, None, None, None, None, None)
    if fmt != ListFormat.table:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "config_file": st.path,
            "settings": {k: {"value": v, "from": src} for k, v, src in st.rows()},
            "suppressions": [
                {
                    "entry": x.number,
                    "reason": x.reason,
                    "expires": x.expires.isoformat(),
                    **{
                        k: str(getattr(x, k))
                        for k in ("rule", "category", "client", "path", "host", "destination")
                        if getattr(x, k) is not None
                    },
                }
                for x in st.suppressions
            ],
        }
        sys.stdout.write(json.dumps(doc) + "\n")
        return
    where = term(st.path) if st.path else f"none (looked for ./dropscan.toml and {term(user_config_path())})"
    sys.stdout.write(f"config file: {where}\n\n")
    sys.stdout.write(f"{'KEY':<20} {'VALUE':<28} FROM\n")
    for k, v, src in st.rows():
        shown = "(unset)" if v is None else v if isinstance(v, str) else json.dumps(v)
        sys.stdout.write(f"{k:<20} {term(shown):<28} {term(src)}\n")
    sys.stdout.write(f"\n{len(st.suppressions)} suppression(s)\n")
    for x in st.suppressions:
        covers = ", ".join(
            f"{k}={getattr(x, k)}"
            for k in ("rule", "category", "client", "path", "host", "destination")
            if getattr(x, k) is not None
        )
        sys.stdout.write(term(f"  #{x.number} {covers}; until {x.expires.isoformat()}; reason: {x.reason}") + "\n")
