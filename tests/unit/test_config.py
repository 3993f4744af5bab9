"""Config: YAML -> validated frozen objects; errors name the key's path."""

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from econnector import config
from econnector.errors import ConfigError
from econnector_testsupport.configs import MINIMAL, with_
from econnector_testsupport.paths import REPO


def parse(doc: dict, base: Path = Path("/etc/ec")) -> config.Config:  # type: ignore[type-arg]
    return config.parse(doc, base)


def test_minimal_config_gets_defaults_and_resolves_paths() -> None:
    cfg = parse(MINIMAL)
    assert cfg.folders.outbox == Path("/etc/ec/data/outbox")
    assert cfg.folders.work == Path("/etc/ec/data/work")
    assert cfg.watch.settle == 0.25 and cfg.watch.observer == "native"
    assert cfg.identities[0].pkcs12 == Path("/etc/ec/k.p12")
    assert cfg.vault.data_dir == Path("/etc/ec/data/work/vault")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.watch.settle = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    "doc,where",
    [
        (with_("watch.settel_ms", 300), "watch.settel_ms"),
        (with_("identities.0.colour", "red"), "identities[0].colour"),
        (with_("extra", 1), "extra"),
        (with_("watch.settle_ms", "fast"), "watch.settle_ms"),
        (with_("watch.observer", "magic"), "watch.observer"),
        (with_("identities.0.provider_code", "123"), "identities[0].provider_code"),
        (with_("vault.kind", "ftp"), "vault.kind"),
    ],
)
def test_bad_keys_and_values_are_named_by_path(doc: dict, where: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as e:
        parse(doc)
    assert e.value.field == where
    assert where in e.value.message


def test_secrets_in_clear_are_refused() -> None:
    with pytest.raises(ConfigError, match="secrets are never written"):
        parse(with_("identities.0.passphrase", "hunter2"))
    with pytest.raises(ConfigError, match="secrets are never written"):
        parse(with_("vault.token", "abc"))


def test_http_vault_needs_url_and_exactly_one_token_source() -> None:
    with pytest.raises(ConfigError):
        parse(with_("vault", {"kind": "http", "token_file": "t"}))
    with pytest.raises(ConfigError):
        parse(with_("vault", {"kind": "http", "url": "https://v"}))
    with pytest.raises(ConfigError):
        parse(
            with_(
                "vault", {"kind": "http", "url": "https://v", "token_file": "t", "token_env": "T"}
            )
        )
    cfg = parse(with_("vault", {"kind": "http", "url": "https://v", "token_env": "T"}))
    assert cfg.vault.token_env == "T"


def test_duplicate_provider_codes_are_refused() -> None:
    doc = json.loads(json.dumps(MINIMAL))
    doc["identities"].append(dict(doc["identities"][0]))
    with pytest.raises(ConfigError) as e:
        parse(doc)
    assert e.value.field == "identities[1].provider_code"


def test_committed_schema_file_is_the_generated_one() -> None:
    assert json.loads((REPO / "config" / "config.schema.json").read_text()) == config.SCHEMA


def test_example_config_is_valid() -> None:
    doc = yaml.safe_load((REPO / "config" / "econnector.example.yaml").read_text())
    cfg = config.parse(doc, Path("/etc/econnector"))
    assert cfg.vault.kind == "http"


def test_folders_group_is_a_name_or_a_gid() -> None:
    cfg = parse(with_("folders.group", "practice"))
    assert cfg.folders.group == "practice" and cfg.folders.root == Path("/etc/ec/data")
    assert parse(with_("folders.group", 1001)).folders.group == 1001
    assert parse(MINIMAL).folders.group is None
    for bad in ("", -1, 1.5, ["practice"]):
        with pytest.raises(ConfigError) as e:
            parse(with_("folders.group", bad))
        assert e.value.message.startswith("folders.group: ")


@pytest.mark.parametrize("folders, where, words", [
    ({"inbox": "outbox"}, "folders.inbox", "same folder as folders.outbox"),
    ({"inbox": "./outbox/"}, "folders.inbox", "same folder as folders.outbox"),
    ({"inbox": "outbox/answers"}, "folders.inbox", "inside folders.outbox"),
    ({"outbox": "inbox/drop"}, "folders.outbox", "inside folders.inbox"),
    ({"work": "archive/.work"}, "folders.work", "inside folders.archive"),
    ({"failed": "archive", "archive": "archive"}, "folders.failed", "same folder"),
])
def test_overlapping_folders_are_refused(
    tmp_path: Path, folders: dict[str, str], where: str, words: str
) -> None:
    """Issue 9, point 3: with inbox = outbox the daemon processed its own status files."""
    doc = {**MINIMAL, "folders": {"root": str(tmp_path), **folders}}
    with pytest.raises(ConfigError) as e:
        config.parse(doc, tmp_path)
    assert e.value.field == where and words in e.value.message, e.value.message


def test_overlap_through_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outbox").mkdir()
    (tmp_path / "answers").symlink_to(tmp_path / "outbox")
    doc = {**MINIMAL, "folders": {"root": str(tmp_path), "inbox": "answers"}}
    with pytest.raises(ConfigError) as e:
        config.parse(doc, tmp_path)
    assert e.value.field == "folders.inbox"


def test_separate_folders_outside_the_root_are_fine(tmp_path: Path) -> None:
    doc = {**MINIMAL, "folders": {"root": str(tmp_path / "r"), "outbox": str(tmp_path / "o"),
                                    "inbox": str(tmp_path / "i")}}
    cfg = config.parse(doc, tmp_path)
    assert cfg.folders.outbox == tmp_path / "o" and cfg.folders.work == tmp_path / "r" / "work"


def test_secret_sources_include_systemd_credentials() -> None:
    doc = json.loads(json.dumps(MINIMAL))
    doc["identities"][0] = {"provider_code": "90812100", "name": "Dr A", "pkcs12": "k.p12",
                            "passphrase_credential": "doc-a"}
    cfg = parse(doc)
    assert cfg.identities[0].passphrase_credential == "doc-a"
    assert cfg.identities[0].passphrase_file is None
    cfg = parse(with_("vault", {"kind": "http", "url": "https://v", "token_credential": "vt"}))
    assert cfg.vault.token_credential == "vt"
    with pytest.raises(ConfigError, match="give exactly one of token_file, token_env or "
                                          "token_credential"):
        parse(with_("vault", {"kind": "http", "url": "https://v", "token_credential": "vt",
                              "token_env": "T"}))
    doc["identities"][0]["passphrase_credential"] = "../etc/shadow"
    with pytest.raises(ConfigError) as e:
        parse(doc)
    assert e.value.field == "identities[0].passphrase_credential"


@pytest.mark.parametrize("url, ok", [
    ("https://vault.example.lu/", True), ("http://127.0.0.1:8443/", True),
    ("http://127.1.2.3/", True), ("http://[::1]:80/", True), ("http://LOCALHOST/", True),
    ("http://vault.example.lu/", False), ("http://10.0.0.5/", False),
    ("http://localhost.example.lu/", False),
])
def test_plain_http_only_to_loopback(url: str, ok: bool) -> None:
    doc = with_("vault", {"kind": "http", "url": url, "token_env": "T"})
    if ok:
        assert parse(doc).vault.url == url
    else:
        with pytest.raises(ConfigError) as e:
            parse(doc)
        assert e.value.field == "vault.url" and "use https://" in e.value.message


def test_did_you_mean_and_a_numeric_provider_code() -> None:
    doc = json.loads(json.dumps(MINIMAL))
    doc["identites"] = doc.pop("identities")
    with pytest.raises(ConfigError) as e:
        parse(doc)
    assert e.value.message == "identites: unknown key (did you mean identities?)"
    with pytest.raises(ConfigError) as e:
        parse(with_("identities.0.provider_code", 90812100))
    assert e.value.field == "identities[0].provider_code"
    assert 'in quotes (provider_code: "90812100")' in e.value.message


# -- defaults from one source: the schema's ``default`` keywords (issue 10) -----------------

# Optional settings without a static default, and why: each is derived when the
# config is loaded, or its absence means "not used". Any other optional property
# must carry a ``default`` in the schema.
DERIVED = {
    "folders.outbox": "<root>/outbox",
    "folders.inbox": "<root>/inbox",
    "folders.archive": "<root>/archive",
    "folders.failed": "<root>/failed",
    "folders.work": "<root>/work",
    "folders.group": "absent: only the service user reads the folders",
    "signing.workers": "the number of CPUs, at most 4",
    "node.id": "the host name",
    "identities[].passphrase_file": "exactly one of the three secret sources (unlock: file)",
    "identities[].passphrase_env": "exactly one of the three secret sources (unlock: file)",
    "identities[].passphrase_credential": "exactly one of the three secret sources "
                                          "(unlock: file)",
    "identities[].pkcs12": "exactly one of pkcs12 and pkcs11",
    "identities[].login": "absent: only the provider code names the doctor in submitted_by",
    "identities[].pkcs11": "exactly one of pkcs12 and pkcs11",
    "identities[].pkcs11.key_label": "exactly one of key_label and key_id",
    "identities[].pkcs11.key_id": "exactly one of key_label and key_id",
    "identities[].pkcs11.cert_label": "the key's label",
    "identities[].unlock": "manual for pkcs11, file for pkcs12",
    "identities[].level": "signing.level",
    "identities[].auto_lock_after_s": "absent: stays unlocked until `econnector lock`",
    "signing.tsa": "absent: no timestamps (B-B only)",
    "signing.visible": "absent: no visible box",
    "signing.tsa.username": "absent: no HTTP authentication",
    "signing.tsa.password_file": "at most one password source, with username",
    "signing.tsa.password_env": "at most one password source, with username",
    "signing.tsa.password_credential": "at most one password source, with username",
    "vault.url": "required for kind http; unused by kind local",
    "vault.token_file": "exactly one of the three token sources for kind http",
    "vault.token_env": "exactly one of the three token sources for kind http",
    "vault.token_credential": "exactly one of the three token sources for kind http",
    "vault.ca_bundle": "absent: the system's trusted CAs only",
    "vault.data_dir": "<work>/vault",
}

# What each schema default becomes in the loaded config.
LOADED: dict[str, Callable[[config.Config], object]] = {
    "watch.observer": lambda c: c.watch.observer,
    "watch.settle_ms": lambda c: c.watch.settle * 1000,
    "watch.rescan_interval_s": lambda c: c.watch.rescan_interval,
    "watch.incomplete_timeout_s": lambda c: c.watch.incomplete_timeout,
    "watch.orphan_timeout_s": lambda c: c.watch.orphan_timeout,
    "limits.max_pdf_mb": lambda c: c.limits.max_pdf_bytes / (1024 * 1024),
    "limits.max_sidecar_kb": lambda c: c.limits.max_sidecar_bytes / 1024,
    "limits.max_pages": lambda c: c.limits.max_pages,
    "limits.worker_memory_mb": lambda c: c.limits.worker_memory_mb,
    "limits.worker_timeout_s": lambda c: c.limits.worker_timeout,
    "signing.bytes_reserved": lambda c: c.signing.bytes_reserved,
    "signing.location": lambda c: c.signing.location,
    "signing.level": lambda c: c.signing.level,
    "signing.trust_roots": lambda c: list(c.signing.trust_roots),
    "signing.tsa.timeout_s": lambda c: c.signing.tsa.timeout,  # type: ignore[union-attr]
    "signing.visible.page": lambda c: c.signing.visible.page,  # type: ignore[union-attr]
    "vault.timeout_s": lambda c: c.vault.timeout,
    "vault.concurrency": lambda c: c.vault.concurrency,
    "retry.base_s": lambda c: c.retry.base,
    "retry.cap_s": lambda c: c.retry.cap,
    "receipts.default_language": lambda c: c.default_language,
    "logging.file": lambda c: c.log_file,
    "logging.level": lambda c: c.log_level,
    "patients.status_ttl_s": lambda c: c.patients.status_ttl,
    "invoice_qr.enabled": lambda c: c.invoice_qr.enabled,
    "invoice_qr.page": lambda c: c.invoice_qr.page,
    "invoice_qr.x_mm": lambda c: c.invoice_qr.x_mm,
    "invoice_qr.y_mm": lambda c: c.invoice_qr.y_mm,
    "invoice_qr.size_mm": lambda c: c.invoice_qr.size_mm,
    "assistants.enforce": lambda c: c.assistants.enforce,
    "audit.anchor_every_s": lambda c: c.audit.anchor_every,
    "followup.enabled": lambda c: c.followup.enabled,
    "followup.poll_every_s": lambda c: c.followup.poll_every,
    "followup.window_days": lambda c: c.followup.window_days,
    "followup.max_per_round": lambda c: c.followup.max_per_round,
    "logging.max_mb": lambda c: c.log_rotation.max_bytes // (1024 * 1024),
    "logging.keep": lambda c: c.log_rotation.keep,
    "logging.console": lambda c: c.log_rotation.console,
    "node.shared_outbox": lambda c: c.node.shared_outbox,
    "node.lease_s": lambda c: c.node.lease,
    "heartbeat.enabled": lambda c: c.heartbeat.enabled,
    "heartbeat.interval_s": lambda c: c.heartbeat.interval,
}


def optional_properties(schema: dict[str, Any], prefix: str = "") -> Iterator[
        tuple[str, dict[str, Any]]]:
    """(dotted path, subschema) of every property not listed in its object's ``required``."""
    required = set(schema.get("required", ()))
    for name, sub in schema.get("properties", {}).items():
        path = prefix + name
        if name not in required:
            yield path, sub
        yield from optional_properties(sub, path + ".")
        if "items" in sub:
            yield from optional_properties(sub["items"], path + "[].")


def test_every_optional_property_has_a_default_in_the_schema() -> None:
    missing = sorted(p for p, sub in optional_properties(config.SCHEMA)
                     if "default" not in sub and p not in DERIVED)
    assert missing == []
    # ... and none of the derived ones has a default the code would ignore.
    derived_with_default = sorted(p for p, sub in optional_properties(config.SCHEMA)
                                  if "default" in sub and p in DERIVED)
    assert derived_with_default == []
    assert set(DERIVED) <= {p for p, _ in optional_properties(config.SCHEMA)}


def test_a_minimal_file_loads_as_the_schema_defaults() -> None:
    leaf_defaults = {p: sub["default"] for p, sub in optional_properties(config.SCHEMA)
                     if "default" in sub and sub["default"] != {}}
    assert set(leaf_defaults) == set(LOADED)  # every default is checked below
    # (with a TSA: the defaults inside an optional section are filled when it is given)
    cfg = parse(with_("signing", {"tsa": {"url": "http://127.0.0.1:1/tsa"}, "visible": {
        "x_mm": 10, "y_mm": 10, "width_mm": 60, "height_mm": 20}}))
    for path, default in leaf_defaults.items():
        assert LOADED[path](cfg) == default, path
    # A section given in part keeps the defaults of the rest.
    cfg = parse(with_("watch", {"settle_ms": 400}))
    assert cfg.watch.settle == 0.4
    assert cfg.watch.rescan_interval == leaf_defaults["watch.rescan_interval_s"]


def test_filling_defaults_changes_neither_the_document_nor_the_schema() -> None:
    doc = json.loads(json.dumps(MINIMAL))
    parse(doc)
    parse(with_("watch", {"settle_ms": 400}))
    assert doc == MINIMAL
    sections = ("watch", "limits", "signing", "retry", "receipts", "logging")
    assert all(config.SCHEMA["properties"][s]["default"] == {} for s in sections)


def test_an_invalid_value_is_reported_before_any_default_is_filled() -> None:
    """Defaults never hide an error: a wrong type is named as written."""
    with pytest.raises(ConfigError) as e:
        parse(with_("watch", None))
    assert e.value.field == "watch"


# -- signing levels, tokens and the unlock (issue 11) ----------------------------------------

TOKEN = {"module": "/usr/lib/softhsm/libsofthsm2.so", "token_label": "Dr A",
         "key_label": "signer"}


def token_identity(**extra: Any) -> dict[str, Any]:
    return {"provider_code": "90812100", "name": "Dr A", "pkcs11": dict(TOKEN), **extra}


def test_a_token_identity_is_unlocked_by_the_doctor_by_default() -> None:
    cfg = parse(with_("identities", [token_identity()]))
    ident = cfg.identities[0]
    assert ident.manual and ident.pkcs12 is None
    assert ident.pkcs11 == config.Pkcs11Key(Path("/usr/lib/softhsm/libsofthsm2.so"), "Dr A",
                                            "signer", None, None)
    assert ident.key_source == "token 'Dr A', key signer"
    # A .p12 keeps today's behaviour: its passphrase from a file.
    assert not parse(MINIMAL).identities[0].manual


def test_a_token_may_name_its_key_by_id() -> None:
    tok = {k: v for k, v in TOKEN.items() if k != "key_label"} | {"key_id": "0a01"}
    ident = parse(with_("identities", [token_identity(pkcs11=tok)])).identities[0]
    assert ident.pkcs11 is not None and ident.pkcs11.key_id == b"\x0a\x01"
    with pytest.raises(ConfigError) as e:
        parse(with_("identities", [token_identity(pkcs11=tok | {"key_label": "x"})]))
    assert e.value.field == "identities[0].pkcs11"
    assert e.value.message.endswith("give exactly one of key_label or key_id")


@pytest.mark.parametrize(("ident", "field", "words"), [
    (token_identity(passphrase_file="pin"), "identities[0].passphrase_file",
     "typed by the doctor (econnector unlock 90812100)"),
    (token_identity(unlock="file"), "identities[0]", "give exactly one of passphrase_file"),
    ({"provider_code": "90812100", "name": "Dr A", "pkcs12": "k.p12"}, "identities[0]",
     "or set unlock: manual"),
    ({**MINIMAL["identities"][0], "pkcs11": TOKEN}, "identities[0]",
     "give exactly one of pkcs12 or pkcs11"),
    ({**MINIMAL["identities"][0], "auto_lock_after_s": 600},
     "identities[0].auto_lock_after_s", "only a manual identity"),
])
def test_each_wrong_unlock_setting_is_named_with_its_key(ident: dict[str, Any], field: str,
                                                         words: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(with_("identities", [ident]))
    assert e.value.field == field
    assert words in e.value.message


def test_a_level_is_global_unless_an_identity_says_otherwise() -> None:
    doc = with_("signing", {"level": "B-LT", "trust_roots": ["roots.pem"],
                            "tsa": {"url": "http://127.0.0.1:9/tsa"}})
    doc["identities"].append({**MINIMAL["identities"][0], "provider_code": "90812101",
                              "level": "B-B"})
    cfg = parse(doc)
    assert [i.level for i in cfg.identities] == ["B-LT", "B-B"]
    assert cfg.signing.trust_roots == (Path("/etc/ec/roots.pem"),)
    assert cfg.signing.tsa == config.Tsa(url="http://127.0.0.1:9/tsa", timeout=15.0)
    with pytest.raises(ConfigError) as e:
        parse(with_("signing.level", "B-X"))
    assert e.value.field == "signing.level"


@pytest.mark.parametrize(("signing", "field", "words"), [
    ({"level": "B-T", "trust_roots": ["r.pem"]}, "signing.tsa",
     "level B-T (set by signing.level) needs a timestamp service"),
    ({"level": "B-LT", "tsa": {"url": "http://127.0.0.1:9/"}}, "signing.trust_roots",
     "level B-LT (set by signing.level) needs signing.trust_roots"),
])
def test_a_timestamped_level_needs_its_services(signing: dict[str, Any], field: str,
                                                words: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(with_("signing", signing))
    assert e.value.field == field and words in e.value.message
    # ... also when one identity asks for it
    with pytest.raises(ConfigError) as e:
        parse(with_("identities.0.level", "B-LTA"))
    assert e.value.field == "signing.tsa" and "identities[0].level" in e.value.message


def test_a_tsa_password_needs_a_user_and_an_encrypted_line() -> None:
    with pytest.raises(ConfigError) as e:
        parse(with_("signing.tsa", {"url": "https://tsa.example/", "password_env": "P"}))
    assert e.value.field == "signing.tsa.username"
    with pytest.raises(ConfigError) as e:
        parse(with_("signing.tsa", {"url": "http://tsa.example/", "username": "u",
                                    "password_env": "P"}))
    assert e.value.field == "signing.tsa.url" and "the TSA password" in e.value.message
    # Without a password, a plain-http TSA is normal (the timestamp itself is signed).
    parse(with_("signing.tsa", {"url": "http://tsa.example/"}))
