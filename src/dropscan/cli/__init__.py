"""The ``dropscan`` command line: a thin typer layer over the library.

Exit codes (`EXIT_CODES`, also in ``--help``): 0 nothing found, 1 findings, 2 a usage, input or
output error (one line on stderr, never a traceback; readable inputs are still scanned and
reported, marked INCOMPLETE), 75 another run holds the lock, 130 interrupted, 3 a bug.

Outputs are checked before anything is read (`dropscan.outputs.outfiles.check_outputs`: never an input,
never inside an input directory, writable), the state lock is taken before any output is opened,
and every output file is written to a temporary file and renamed into place on success.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated

import typer

from ..errors import DropscanError, LockedError

# importing a command module registers its commands, in this order (the order --help lists them)
# isort: off
from . import scan, report, rules, iocs, explain, signatures, config  # noqa: F401

# isort: on
from .common import EXIT_BUG, EXIT_CLEAN, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_LOCKED, _Command, _epilog, _err, app


class Shell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


@app.command(
    cls=_Command,
    epilog=_epilog(
        "dropscan completion bash > ~/.local/share/bash-completion/completions/dropscan",
        'dropscan completion zsh > "${fpath[1]}/_dropscan"',
        "dropscan completion fish > ~/.config/fish/completions/dropscan.fish",
    ),
)
def completion(shell: Annotated[Shell, typer.Argument(metavar="SHELL", help="bash, zsh, fish or powershell.")]) -> None:
    """Print the shell completion script (or let --install-completion install it for this shell)."""
    from typer._completion_shared import get_completion_script

    script = get_completion_script(prog_name="dropscan", complete_var="_DROPSCAN_COMPLETE", shell=shell.value)
    sys.stdout.write(script + "\n")


def main() -> None:
    """Console entry point: map errors to exit codes, one line each, no tracebacks."""
    try:
        app(prog_name="dropscan")
    except LockedError as e:
        _err(str(e))
        sys.exit(EXIT_LOCKED)
    except DropscanError as e:
        _err(str(e))
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        finally:
            sys.exit(EXIT_CLEAN)
    except OSError as e:  # the environment (disk full, read-only, gone), not a bug: one line
        where = e.filename if e.filename is not None else "output"
        _err(f"{where}: {e.strerror or e}")
        sys.exit(EXIT_ERROR)
    except Exception as e:
        if os.environ.get("DROPSCAN_DEBUG"):
            raise
        _err(f"internal error: {type(e).__name__}: {e} (set DROPSCAN_DEBUG=1 for a traceback)")
        sys.exit(EXIT_BUG)
