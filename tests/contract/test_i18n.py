"""What the front desk reads is in its language: every catalog code in French, German and
English, no English left in the French and German texts, the sidecar's language used
even when the sidecar is refused, receipts with local times and localized labels.

The last tests run the real daemon against the reference vault over TLS."""

from __future__ import annotations

import datetime
import json
import re
import string
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from econnector import contract, messages, receipts
from econnector.errors import CATALOG, SidecarError, render
from econnector.testid import TestIdentity
from econnector_testsupport.daemon import (
    PROVIDER,
    Daemon,
    drop,
    make_identity,
    running_daemon,
    sidecar,
    write_config,
)
from econnector_testsupport.english import english_words
from econnector_testsupport.vault import VaultProcess, make_tls, running_vault, unsigned_pdf

LANGS = ("fr", "de", "en")
MATRICULE = "1893120105732"

# Neutral values for every template parameter (numbers, names, codes: no words).
SAMPLE: dict[str, Any] = {
    "name": "2026-000123.pdf", "stem": "2026-000123", "seconds": 60, "size": 70000,
    "limit": 65536, "format": "YAML", "detail": "X-17", "value": "42",
    "field": "patient.matricule", "expected": "a quoted string", "reading": "a date or time",
    "hint_detail": "Shorten it to at most 100 characters, or leave it out.",
    "kind": "a symbolic link", "provider": PROVIDER, "pages": 3000, "action": "URI",
    "target": "//server/share", "status": 401, "vault_code": "X-17",
    "not_after": "2026-11-30", "not_before": "2026-12-01", "path": "/srv/outbox",
    "what": "vault.token_file", "mode": "0644", "how": "0644", "signed": "2026-000123.signed.pdf",
    "usages": "key_encipherment", "service": "http://127.0.0.1:9/tsa", "defect": "X-19",
}

def fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


# -- the catalog ---------------------------------------------------------------------


def test_every_code_has_french_and_german_and_nothing_else() -> None:
    for lang in ("fr", "de"):
        assert set(messages.TEXTS[lang]) == set(CATALOG), lang


@pytest.mark.parametrize("code", sorted(CATALOG))
def test_every_code_renders_in_all_three_languages(code: str) -> None:
    spec = CATALOG[code]
    wanted = fields(spec.message) | fields(spec.hint)
    for lang in ("fr", "de"):
        message, hint = messages.TEXTS[lang][code]
        # the same parameters, so every language can be rendered from one stored error
        assert fields(message) | fields(hint) == wanted, (code, lang)
    assert wanted <= {*SAMPLE, "yaml_reading"}, f"add a sample for {wanted - set(SAMPLE)}"
    rendered = {lang: render(code, SAMPLE, lang) for lang in LANGS}
    for lang, (message, hint) in rendered.items():
        assert message.strip() and hint.strip(), (code, lang)
        assert "?" not in message + hint, f"{code} ({lang}): a parameter is missing"
        assert "{" not in message + hint, (code, lang)
    # really translated (a code whose text is all product words may coincide)
    assert rendered["fr"] != rendered["en"] and rendered["de"] != rendered["en"], code


@pytest.mark.parametrize("code", sorted(CATALOG))
@pytest.mark.parametrize("lang", ["fr", "de"])
def test_no_english_left_in_french_and_german(code: str, lang: str) -> None:
    message, hint = render(code, SAMPLE, lang)
    for value in (v for v in SAMPLE.values() if isinstance(v, str) and "." in v):
        message, hint = message.replace(value, " "), hint.replace(value, " ")  # file names
    assert not english_words(message), (code, lang, message)
    assert not english_words(hint), (code, lang, hint)


def test_the_heuristic_does_find_english() -> None:
    message, hint = render("matricule-luhn", {}, "en")
    assert english_words(message) and english_words(hint)


def test_phrases_and_labels_have_no_english() -> None:
    texts: list[str] = []
    for lang in ("fr", "de"):
        texts += [t[lang] for t in messages.PHRASES.values()]
        texts += list(messages.STATE_TEXTS[lang].values())
        texts += list(receipts.LABELS[lang].values())
        texts += list(receipts.TYPE_NAMES[lang].values())
        texts += list(receipts.SUBJECT_LABELS[lang].values())
        for table in (messages.CLI_TEXTS, messages.CLI_STATE_NAMES, messages.CLI_REASONS):
            texts += list(table[lang].values())  # what `econnector status` prints
    leftovers = {t: english_words(t) for t in texts if english_words(t)}
    assert not leftovers
    for lang in LANGS:
        assert set(receipts.LABELS[lang]) == set(receipts.LABELS["en"])
        assert set(messages.STATE_TEXTS[lang]) == set(messages.STATE_TEXTS["en"])
        for table in (messages.CLI_TEXTS, messages.CLI_STATE_NAMES, messages.CLI_REASONS):
            assert set(table[lang]) == set(table["en"]), lang
        for key, text in messages.CLI_TEXTS[lang].items():  # the same fields everywhere
            assert fields(text) == fields(messages.CLI_TEXTS["en"][key]), (lang, key)


def test_texts_for_people_have_no_patterns() -> None:
    """Front-desk texts say things in words: no regular expressions or format codes."""
    pattern = re.compile(r"\[[A-Za-z0-9]-|\{\d|\\d|%%|YYYY|\[A-Z")
    for code in CATALOG:
        for lang in LANGS:
            text = " ".join(render(code, SAMPLE, lang))
            assert not pattern.search(text), (code, lang, text)


def test_bad_file_name_says_in_words_what_to_rename_and_how() -> None:
    for lang, words in {
        "en": ("Rename", "letters", "digits", "120", "dashes", "underscores"),
        "fr": ("Renommez", "lettres", "chiffres", "120", "tirets"),
        "de": ("Benennen", "Buchstaben", "Ziffern", "120", "Bindestriche"),
    }.items():
        message, hint = render("bad-file-name", {"name": "Rechnung Müller.pdf"}, lang)
        assert "Rechnung Müller.pdf" in message
        assert all(w in hint for w in words), (lang, hint)


def test_known_phrases_in_parameters_are_translated_but_vendor_values_are_not() -> None:
    message, _ = render("file-not-regular", {"name": "a.pdf", "kind": "a symbolic link"}, "de")
    assert "symbolische Verknüpfung" in message
    # a vendor's value that happens to be a phrase is shown as written
    message, _ = render("document-type-unknown", {"value": "locked"}, "fr")
    assert "'locked'" in message


# -- the sidecar's language, even when it is refused ---------------------------------


def test_a_refused_sidecar_still_gives_its_language() -> None:
    doc = sidecar(language="de", mat="1893120105733")  # wrong check digit
    with pytest.raises(SidecarError) as info:
        contract.parse_sidecar(yaml.safe_dump(doc).encode(), "yaml", providers=[PROVIDER],
                               today=datetime.date(2026, 11, 25))
    assert info.value.code == "matricule-verhoeff" and info.value.language == "de"
    assert all(e.language == "de" for e in contract.all_errors(info.value))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (b"schema: [", None),  # unreadable: no language
        (b"language: de\nschema: [", None),
        (b"- a list\n", None),
        (yaml.safe_dump(sidecar(language="xx")).encode(), None),  # not one we speak
        (yaml.safe_dump(sidecar(language="en", provider="11111111")).encode(), "en"),
        (yaml.safe_dump({**sidecar(language="fr"), "schema": "v2"}).encode(), "fr"),
    ],
)
def test_which_language_a_refused_sidecar_gives(text: bytes, language: str | None) -> None:
    with pytest.raises(SidecarError) as info:
        contract.parse_sidecar(text, "yaml", providers=[PROVIDER],
                               today=datetime.date(2026, 11, 25))
    assert info.value.language == language


def test_stored_errors_render_again_in_any_language() -> None:
    err = SidecarError("field-missing", field="patient.insurer").as_dict()
    json.dumps(err)  # JSON-safe
    assert err["message"] == render("field-missing", err["params"], "en")[0]
    assert "patient.insurer" in render(err["code"], err["params"], "fr")[0]


# -- local times and labels in the text files -----------------------------------------


@pytest.mark.parametrize(
    ("stamp", "lang", "shown"),
    [
        ("2026-11-30T09:15:02Z", "de", "30.11.2026 10:15:02 (UTC+01:00)"),
        ("2026-11-30T09:15:02Z", "fr", "30/11/2026 10:15:02 (UTC+01:00)"),
        ("2026-11-30T09:15:02Z", "en", "2026-11-30 10:15:02 (UTC+01:00)"),
        ("2026-07-01T22:30:00+00:00", "de", "02.07.2026 00:30:00 (UTC+02:00)"),  # summer
        ("2026-03-29T01:30:00Z", "fr", "29/03/2026 03:30:00 (UTC+02:00)"),  # just after DST
    ],
)
def test_local_time(stamp: str, lang: str, shown: str) -> None:
    assert receipts.local_time(stamp, lang) == shown


def test_signer_subject_is_shown_with_localized_attribute_names() -> None:
    rfc = "CN=Dr Marie Schmit,O=Cabinet Schmit\\, Weber,C=LU"
    assert receipts.subject_text(rfc, "fr") == (
        "Nom: Dr Marie Schmit; Organisation: Cabinet Schmit, Weber; Pays: LU")
    friendly = "Common Name: Dr X, Serial Number: TEST-1, Country: LU"
    assert receipts.subject_text(friendly, "de") == (
        "Name: Dr X; Seriennummer: TEST-1; Land: LU")


# -- through the real daemon -----------------------------------------------------------

@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> TestIdentity:
    return make_identity(tmp_path_factory.mktemp("identity"))


@pytest.fixture(scope="module")
def tls_vault(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("vault")
    with running_vault(folder, tls=make_tls(folder / "tls"),
                       patients={MATRICULE: "green"}) as vp:
        yield vp


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, identity: TestIdentity,
           tls_vault: VaultProcess):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("i18n") / "practice"
    cfg = write_config(root, [(PROVIDER, identity)], vault=tls_vault,
                       receipts={"default_language": "fr"})
    with running_daemon(cfg) as d:
        yield d


def error_files(d: Daemon, stem: str) -> tuple[dict[str, Any], str]:
    st = d.wait_outcome(stem)
    assert st["state"] == "rejected", st
    err = d.error(stem)
    assert err is not None
    return err, (d.inbox / f"{stem}.error.txt").read_text("utf-8")


def test_refused_sidecar_with_language_de_gives_a_german_error_file(daemon: Daemon) -> None:
    d = daemon
    bad = sidecar("I18N-DE", language="de", mat="1893120105733")  # the 13th digit is wrong
    drop(d.outbox, "i18n-de", unsigned_pdf("de"), bad)
    err, txt = error_files(d, "i18n-de")
    assert (err["code"], err["field"], err["language"]) == (
        "matricule-verhoeff", "patient.matricule", "de")
    assert err["message"] == render("matricule-verhoeff", {}, "de")[0]
    assert "Matrikelnummer" in err["message"] and "Sozialversicherungskarte" in err["hint"]
    assert txt.startswith("Dokument abgelehnt")
    assert err["message"] in txt and err["hint"] in txt and "Abgelehnt am: " in txt
    assert not english_words(txt.replace(err["files"][0], "").replace(err["files"][1], ""))
    assert re.search(r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d \(UTC\+0[12]:00\)", txt), txt
    status = d.status("i18n-de")
    assert status is not None and "Matrikelnummer" in status["message"]


def test_unreadable_sidecar_gives_an_error_file_in_the_default_language(daemon: Daemon) -> None:
    d = daemon
    drop(d.outbox, "i18n-fr", unsigned_pdf("fr"), b"language: de\nschema: [\n")
    err, txt = error_files(d, "i18n-fr")
    assert (err["code"], err["language"]) == ("sidecar-syntax", "fr")
    assert "fichier de données" in err["message"] and "Renvoyez" in err["hint"]
    assert txt.startswith("Document refusé") and "Refusé le: " in txt
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d:\d\d \(UTC\+0[12]:00\)", txt), txt


def test_yml_sidecar_delivers_with_a_localized_receipt_in_local_time(daemon: Daemon) -> None:
    d = daemon
    meta = sidecar("I18N-YML", language="de")
    drop(d.outbox, "i18n-yml", unsigned_pdf("yml"), yaml.safe_dump(meta), fmt="yml")
    st = d.wait_outcome("i18n-yml")
    assert st["state"] == "delivered", st
    assert (d.archive.rglob("i18n-yml.yml")).__next__().exists()  # the .yml was the sidecar
    receipt = d.receipt("i18n-yml")
    assert receipt is not None and receipt["signed_at"].endswith("Z")  # JSON: UTC
    txt = (d.inbox / "i18n-yml.receipt.txt").read_text("utf-8")
    assert txt.startswith("Zustellbestätigung")
    delivered = datetime.datetime.fromisoformat(receipt["delivered_at"].replace("Z", "+00:00"))
    local = delivered.astimezone(ZoneInfo("Europe/Luxembourg"))
    offset = local.strftime("%z")
    assert "Zugestellt am" in txt
    assert f"{local:%d.%m.%Y %H:%M:%S} (UTC{offset[:3]}:{offset[3:]})" in txt, txt
    signer = next(line for line in txt.splitlines() if line.startswith("Unterzeichner"))
    assert f"Name: TEST Dr {PROVIDER}" in signer and "Land: LU" in signer, signer
    for english in ("Common Name", "Serial Number", "Country", "Signer", "Delivered"):
        assert english not in txt, english
    assert st["message"] == messages.STATE_TEXTS["de"]["delivered"]


def test_yaml_and_yml_for_one_stem_are_ambiguous(daemon: Daemon) -> None:
    d = daemon
    (d.outbox / "i18n-two.yml").write_text(yaml.safe_dump(sidecar("I18N-TWO")))
    drop(d.outbox, "i18n-two", unsigned_pdf("two"), sidecar("I18N-TWO"))
    err, _ = error_files(d, "i18n-two")
    assert err["code"] == "sidecar-ambiguous" and err["language"] == "fr"
    assert sorted(err["files"]) == ["i18n-two.pdf", "i18n-two.yaml", "i18n-two.yml"]
    # every sidecar of the stem went to failed/: none is left to wait for a PDF
    assert sorted(p.name for p in d.failed.iterdir() if p.name.startswith("i18n-two")) == [
        "i18n-two.pdf", "i18n-two.yaml", "i18n-two.yml"]
    assert not list(d.outbox.glob("i18n-two*"))
    assert (d.status("i18n-two") or {}).get("state") == "rejected"


@pytest.mark.parametrize("code", sorted(CATALOG))
@pytest.mark.parametrize("lang", ["fr", "de"])
def test_every_codes_error_file_text_is_all_in_the_staffs_language(code: str, lang: str) -> None:
    """The whole ``.error.txt`` a person reads (headings, message, fix, the note on the
    kept original), built as the pipeline builds it, for every code."""
    message, hint = render(code, SAMPLE, lang)
    doc = receipts.error_doc(code=code, message=message, hint=hint, field="patient.matricule",
                             document_id="2026-000123", files=["2026-000123.pdf"],
                             rejected_at="2026-11-30T09:15:00Z", language=lang)
    text = receipts.error_text(doc, lang)
    assert message in text and hint in text and code in text
    assert "30" in text and "(UTC+01:00)" in text  # local time, with its offset
    for value in (v for v in SAMPLE.values() if isinstance(v, str) and "." in v):
        text = text.replace(value, " ")
    text = text.replace("2026-000123", " ").replace(code, " ")  # codes stay as they are
    assert not english_words(text), (code, lang, text)
