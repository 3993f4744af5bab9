"""The PDF policy (docs/pdf-policy.md) where a unit test cannot show it: active content
hidden in compressed object streams (built with qpdf), and the byte-search fast path
checked against a full walk over the shared corpus (docs/testing.md, tiers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic

from econnector import pdfpolicy, signworker
from econnector_testsupport.paths import CORPUS
from econnector_testsupport.signing import action, job, with_root_entry
from econnector_testsupport.vault import unsigned_pdf


def test_active_content_inside_an_object_stream_is_refused(
    worker_signer: None, tmp_path: Path
) -> None:
    """Compressed object streams hide every key from a byte search: the walk must run."""
    import subprocess

    from econnector_testsupport.daemon import require_tool

    require_tool("qpdf")
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(with_root_entry(unsigned_pdf("objstm"), "/OpenAction", action(
        "/JavaScript", JS=generic.TextStringObject("app.alert(1)"))))
    src = tmp_path / "in.pdf"
    r = subprocess.run(["qpdf", "--object-streams=generate", "--compress-streams=y",
                        str(plain), str(src)], capture_output=True)
    assert r.returncode in (0, 3), r.stderr  # 3: qpdf succeeded with warnings
    data = src.read_bytes()
    assert b"/JavaScript" not in data and b"/ObjStm" in data
    out = signworker.sign_file(job(src, tmp_path / "out.pdf"))
    assert (out.ok, out.code) == (False, "pdf-javascript")


@pytest.mark.corpus
def test_the_byte_search_never_skips_a_walk_that_would_refuse(
    worker_signer: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the shared corpus: wherever the fast path skips the walk, signing ends the
    same way as with the walk forced."""
    skipped = 0
    for path in sorted(CORPUS.glob("*/*.pdf")):
        if pdfpolicy.may_hold_active_content(path.read_bytes()):
            continue
        skipped += 1
        fast = signworker.sign_file(job(path, tmp_path / "fast.pdf", max_pages=10_000))
        with monkeypatch.context() as m:
            m.setattr(pdfpolicy, "may_hold_active_content", lambda data: True)
            walked = signworker.sign_file(job(path, tmp_path / "walked.pdf", max_pages=10_000))
        assert (fast.ok, fast.code, fast.pages) == (walked.ok, walked.code, walked.pages), path.name
    assert skipped >= 20  # the fast path is really taken
