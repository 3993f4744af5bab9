"""The ``econnector-vault`` command: ``econnector-vault serve [options]`` runs the server.

The daemon's ``econnector vault serve`` runs the same :func:`econnector_vault.server.main`,
so both take the same options and answer with the same lines and exit codes.
"""

from __future__ import annotations

import sys

from econnector_vault import __version__, server

__all__ = ["main"]

EXIT_USAGE = 2
_USAGE = """\
usage: econnector-vault serve [-h] --data DATA --token-file TOKEN_FILE [options]
       econnector-vault --version

The reference vault server (vault API v1); 'econnector-vault serve --help' lists
the options."""


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return server.main(argv[1:], prog="econnector-vault serve")
    if argv == ["--version"]:
        print(f"econnector-vault {__version__}")
        return 0
    if argv in (["-h"], ["--help"]):
        print(_USAGE)
        return 0
    if argv:
        print(f"econnector-vault: unknown command {argv[0]!r}", file=sys.stderr)
    print(_USAGE, file=sys.stderr)
    return EXIT_USAGE
