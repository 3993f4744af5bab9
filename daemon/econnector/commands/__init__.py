"""The commands for staff and IT beyond running the daemon, one module each.

Each module's ``register(sub)`` adds its subcommand(s) to ``econnector``'s parser;
``cli.build_parser`` calls :func:`register_all`. The commands' texts are in
``messages/`` in fr, de and en, like every text a person reads.
"""

from __future__ import annotations

import argparse

from . import assistants, audit, doctor, patient_status, report, service


def register_all(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for module in (patient_status, assistants, audit, report, doctor, service):
        module.register(sub)
