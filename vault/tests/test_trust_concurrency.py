"""Concurrent signature checks against one set of trust roots (issue: a good signature
refused as ``integrity`` under load, in-process).

asn1crypto parses a certificate lazily and not atomically: a ``Sequence`` first
sets its ``children`` to an empty list and then appends, so a thread reading a
root while another parses it sees a half-built object (``KeyError: No field
numbered 1 ...``), which the vault answered as ``signature-invalid``/``integrity``.
The window is the first use of freshly loaded roots by several upload threads at
once: a fresh vault with four drops. A tiny GIL switch interval makes it wide.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from econnector.testid import TestIdentity, make_identity
from econnector_testsupport.signing import sign_p12
from econnector_testsupport.vault import unsigned_pdf
from econnector_vault.errors import StoreError
from econnector_vault.signatures import check_pdf_signature
from econnector_vault.trust import TrustPolicy, load_trust_roots

THREADS = 6
ROUNDS = 16




@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestIdentity, list[Path]]:
    folder = tmp_path_factory.mktemp("trust-concurrency")
    identity = make_identity(folder / "identity")
    paths = []
    for n in range(THREADS):
        path = folder / f"doc{n}.pdf"
        path.write_bytes(sign_p12(unsigned_pdf(f"concurrent {n}"), identity))
        paths.append(path)
    return identity, paths


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so a race shows within seconds."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_first_concurrent_checks_on_fresh_roots_accept_good_signatures(
    signed: tuple[TestIdentity, list[Path]], eager_switching: None
) -> None:
    identity, paths = signed
    refusals: list[str] = []
    for _ in range(ROUNDS):
        # Freshly loaded roots each round: nothing parsed yet, as in a new vault.
        policy = TrustPolicy(load_trust_roots([identity.ca_cert]))
        start = threading.Barrier(len(paths))

        def check(path: Path, policy: TrustPolicy = policy,
                  start: threading.Barrier = start) -> None:
            start.wait()
            try:
                check_pdf_signature(path, policy)
            except StoreError as exc:
                refusals.append(f"{exc.reason}: {exc.detail}")

        threads = [threading.Thread(target=check, args=(p,)) for p in paths]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert refusals == []


def test_threads_share_no_parsed_root(signed: tuple[TestIdentity, list[Path]]) -> None:
    """Each thread validates against its own copy of the roots (asn1crypto is not
    thread-safe); one thread reuses its copy from upload to upload."""
    identity, _ = signed
    policy = TrustPolicy(load_trust_roots([identity.ca_cert]))
    seen: dict[str, list[Any]] = {}  # the objects themselves: an id outlives no thread

    def roots_of(name: str) -> None:
        seen[name] = [cert for _ in range(2) for cert in policy.context(None).certificate_registry]

    for name in ("a", "b"):
        t = threading.Thread(target=roots_of, args=(name,))
        t.start()
        t.join()
    roots_of("main")
    a, b, main = ({id(c) for c in seen[n]} for n in ("a", "b", "main"))
    assert len(a) == len(b) == len(main) == 1  # one root, the same object across calls
    assert a.isdisjoint(b) and a.isdisjoint(main) and b.isdisjoint(main)
    assert all(id(root) not in a | b | main for root in policy.roots)
