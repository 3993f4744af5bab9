"""Signing and the PDF policy, in process. The worker pool's processes are in
tests/e2e/test_signing_pool.py; object streams (qpdf) and the corpus in
tests/contract/test_pdfpolicy.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from econnector import signworker
from econnector.testid import TestIdentity
from econnector_testsupport.signing import PC, action, job, load_worker, with_root_entry
from econnector_testsupport.vault import unsigned_pdf


def test_signs_incrementally_and_keeps_the_original_bytes(
    worker_signer: None, tmp_path: Path
) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("keep", pages=2))
    out = signworker.sign_file(job(src, tmp_path / "out.pdf"))
    assert out.ok and out.pages == 2
    signed = (tmp_path / "out.pdf").read_bytes()
    assert signed.startswith(src.read_bytes())
    r = PdfFileReader(io.BytesIO(signed))
    assert len(r.embedded_signatures) == 1
    assert r.embedded_signatures[0].sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert not list(tmp_path.glob("*.tmp"))


def test_private_key_is_parsed_once_for_many_signatures(
    identity: TestIdentity, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = signworker.serialization.load_der_private_key

    def counting(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(signworker.serialization, "load_der_private_key", counting)
    load_worker(identity)
    assert len(calls) == 1  # parsed when the identity is loaded ...
    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("once"))
    for i in range(3):
        assert signworker.sign_file(job(src, tmp_path / f"o{i}.pdf")).ok
    assert len(calls) == 1  # ... and never again


@pytest.mark.parametrize(
    "key,value,code",
    [
        ("/OpenAction", action("/JavaScript", JS=generic.TextStringObject("app.alert(1)")),
         "pdf-javascript"),
        ("/OpenAction", action("/Launch", F=generic.TextStringObject("calc.exe")),
         "pdf-launch-action"),
        ("/AA", generic.DictionaryObject({generic.NameObject("/WC"): action(
            "/JavaScript", JS=generic.TextStringObject("x"))}), "pdf-javascript"),
    ],
)
def test_active_content_is_refused(worker_signer: None, tmp_path: Path, key: str,
                                   value: generic.PdfObject, code: str) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(with_root_entry(unsigned_pdf("active"), key, value))
    out = signworker.sign_file(job(src, tmp_path / "out.pdf"))
    assert (out.ok, out.code) == (False, code)
    assert not (tmp_path / "out.pdf").exists()


def _with_attachment(name: str) -> bytes:
    from pyhanko.pdf_utils import embed

    w = IncrementalPdfFileWriter(io.BytesIO(unsigned_pdf("attach")))
    embed.embed_file(w, embed.EmbeddedFileObject.from_file_data(
        w, b"MZ\x90\x00payload", mime_type=None
    ) and embed.FileSpec(file_spec_string=name, embedded_data=embed.EmbeddedFileObject
                         .from_file_data(w, b"MZ\x90\x00payload")))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_executable_attachment_is_refused_but_xml_is_fine(
    worker_signer: None, tmp_path: Path
) -> None:
    exe = tmp_path / "exe.pdf"
    exe.write_bytes(_with_attachment("invoice.exe"))
    out = signworker.sign_file(job(exe, tmp_path / "o1.pdf"))
    assert (out.ok, out.code) == (False, "pdf-embedded-executable")
    xml = tmp_path / "xml.pdf"
    xml.write_bytes(_with_attachment("factur-x.xml"))
    assert signworker.sign_file(job(xml, tmp_path / "o2.pdf")).ok


def test_page_limit(worker_signer: None, tmp_path: Path) -> None:
    src = tmp_path / "in.pdf"
    src.write_bytes(unsigned_pdf("pages", pages=5))
    out = signworker.sign_file(job(src, tmp_path / "out.pdf", max_pages=4))
    assert (out.ok, out.code) == (False, "pdf-too-many-pages")


def test_wrong_passphrase_keeps_the_identity_locked(identity: TestIdentity) -> None:
    from econnector.errors import Held

    with pytest.raises(Held) as e:
        signworker.load_signer(PC, identity.pkcs12, b"wrong")
    assert e.value.code == "identity-locked"
    assert "wrong" not in e.value.message.replace("wrong passphrase", "")


def _escaped(data: bytes, plain: bytes, escaped: bytes) -> bytes:
    """``data`` with a name spelled with #-escapes (what a hostile writer may do);
    same length, so the cross-reference offsets stay right."""
    assert len(plain) == len(escaped) and plain in data
    return data.replace(plain, escaped)


@pytest.mark.parametrize(
    "plain,escaped,code",
    [
        (b"/S /JavaScript\n/JS (x)\n>>", b"/S/Java#53cript/J#53(x)>>", "pdf-javascript"),
        (b"/S /Launch\n/F (x)", b"/S/L#61unch/F (x)", "pdf-launch-action"),
    ],
)
def test_active_content_behind_escaped_names_is_refused(
    worker_signer: None, tmp_path: Path, plain: bytes, escaped: bytes, code: str
) -> None:
    kind = "/JavaScript" if code == "pdf-javascript" else "/Launch"
    value = action(kind, JS=generic.TextStringObject("x")) if kind == "/JavaScript" else action(
        kind, F=generic.TextStringObject("x"))
    data = with_root_entry(unsigned_pdf("escaped"), "/OpenAction", value)
    data = _escaped(data, plain, escaped)
    assert not any(t in data for t in (b"/JavaScript", b"/Launch", b"/JS "))
    src = tmp_path / "in.pdf"
    src.write_bytes(data)
    out = signworker.sign_file(job(src, tmp_path / "out.pdf"))
    assert (out.ok, out.code) == (False, code)
