"""Shared test support for econnector: real daemons, real vaults, test identities.

Installed with the daemon's ``test`` extra (``make test`` does it), so tests and
``bench/`` import it like any package: ``from econnector_testsupport.daemon
import running_daemon``. Nothing here fakes a component that runs for real on
this machine; the fakes for in-process unit tests sit at the pipeline's seams
(:mod:`econnector_testsupport.fakes`).
"""
