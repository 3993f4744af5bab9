"""Config: YAML -> validated frozen objects; errors name the key's path."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from econnector import config
from econnector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = {
    "schema": "econnector.config/v1",
    "folders": {"root": "data"},
    "identities": [
        {
            "provider_code": "90812100",
            "name": "Dr A",
            "pkcs12": "k.p12",
            "passphrase_file": "k.pass",
        }
    ],
    "vault": {"kind": "local"},
}


def parse(doc: dict, base: Path = Path("/etc/ec")) -> config.Config:  # type: ignore[type-arg]
    return config.parse(doc, base)


def with_(path: str, value: object) -> dict:  # type: ignore[type-arg]
    doc = json.loads(json.dumps(MINIMAL))
    *parents, last = path.split(".")
    node = doc
    for p in parents:
        node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
    node[last] = value
    return doc


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
    assert json.loads((ROOT / "config" / "config.schema.json").read_text()) == config.SCHEMA


def test_example_config_is_valid() -> None:
    doc = yaml.safe_load((ROOT / "config" / "econnector.example.yaml").read_text())
    cfg = config.parse(doc, Path("/etc/econnector"))
    assert cfg.vault.kind == "http"


def test_cli_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text(yaml.safe_dump(with_("watch.settel_ms", 1)))
    r = subprocess.run(
        [sys.executable, "-m", "econnector.cli", "check-config", "-c", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == ("econnector: watch.settel_ms: unknown key "
                                "(did you mean settle_ms?)")
    assert "Traceback" not in r.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "econnector.cli", "run", "-c", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "config file not found" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


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
