"""Where the checkout's folders are, for tests and benchmarks that read them.

The test-support package is installed editable from ``testsupport/`` (``make test``
does it), so this file sits in the checkout and the repository is two folders up.
One place for that arithmetic instead of ``Path(__file__).parents[N]`` per test.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
BENCH = REPO / "bench"
# The shared real-world PDF corpus sits next to the checkout (README, Development).
CORPUS = REPO.parent / "shared" / "corpus"
