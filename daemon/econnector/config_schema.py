"""The config's JSON Schema: the one source of its rules and its defaults.

``config/config.schema.json`` is generated from :data:`SCHEMA` (``econnector
config-schema``; tests/unit/test_config.py keeps the two equal). Every optional
setting's default is the schema's ``default`` keyword, filled in by
:func:`with_defaults`; no code restates one (tests/unit/test_config.py checks
that every optional property has one, or is one of the few derived at load:
the folders from ``folders.root``, ``vault.data_dir`` from ``folders.work``,
``signing.workers`` from the number of CPUs, ``node.id`` from the host name).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterator
from typing import Any

from jsonschema import Draft202012Validator, validators

from .errors import ConfigError

SCHEMA_ID = "econnector.config/v1"

_LEVEL = {"enum": ["B-B", "B-T", "B-LT", "B-LTA"]}
_ENV_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
# A systemd credential name (LoadCredential=NAME:...): a file name in $CREDENTIALS_DIRECTORY.
_CREDENTIAL_NAME = {
    "type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,254}$",
    "description": "the name of a systemd credential (LoadCredential=NAME:FILE in the "
                   "unit), read from $CREDENTIALS_DIRECTORY/NAME",
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://econnector.example/schemas/config-v1.json",
    "title": "econnector configuration v1",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "folders", "identities", "vault"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "folders": {
            "type": "object",
            "additionalProperties": False,
            "required": ["root"],
            "description": "Each folder defaults to <root>/<name>.",
            "properties": {
                **{
                    k: {"type": "string", "minLength": 1}
                    for k in ("root", "outbox", "inbox", "archive", "failed", "work")
                },
                "group": {
                    "type": ["string", "integer"], "minLength": 1, "minimum": 0,
                    "description": "the practice group (name or gid) that may read inbox/, "
                                   "archive/ and failed/ (folders 2750, files 0640) and "
                                   "write an outbox econnector creates (2770); without it "
                                   "only the service user can (0700/0600)",
                },
            },
        },
        "watch": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "observer": {
                    "enum": ["native", "polling", "none"], "default": "native",
                    "description": "native: inotify/ReadDirectoryChangesW; polling: for network "
                                   "shares; none: periodic rescans only",
                },
                "settle_ms": {"type": "integer", "minimum": 50, "maximum": 60000, "default": 250},
                "rescan_interval_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 10
                },
                "incomplete_timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": 120
                },
                "orphan_timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 604800, "default": 600
                },
            },
        },
        "limits": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "max_pdf_mb": {"type": "integer", "minimum": 1, "maximum": 4096, "default": 100},
                "max_sidecar_kb": {"type": "integer", "minimum": 1, "maximum": 1024, "default": 64},
                "max_pages": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 2000},
                "worker_memory_mb": {
                    "type": "integer", "minimum": 256, "maximum": 65536, "default": 2048
                },
                "worker_timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 120
                },
            },
        },
        "signing": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "workers": {
                    "type": "integer", "minimum": 1, "maximum": 64,
                    "description": "signing worker processes; default: the number of CPUs, "
                                   "at most 4",
                },
                "bytes_reserved": {
                    "type": "integer", "minimum": 4096, "maximum": 1048576, "default": 16384
                },
                "location": {"type": "string", "maxLength": 200, "default": "Luxembourg"},
                "level": {
                    **_LEVEL, "default": "B-B",
                    "description": "PAdES level of every signature (an identity may say "
                                   "otherwise): B-B signed; B-T plus a timestamp (needs "
                                   "signing.tsa); B-LT plus the revocation data that proves "
                                   "the certificate was good (needs signing.trust_roots); "
                                   "B-LTA plus a renewable document timestamp",
                },
                "tsa": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["url"],
                    "description": "the RFC 3161 timestamp service for B-T and above",
                    "properties": {
                        "url": {"type": "string", "pattern": "^https?://"},
                        "username": {"type": "string", "minLength": 1, "maxLength": 200},
                        "password_file": {"type": "string", "minLength": 1},
                        "password_env": _ENV_NAME,
                        "password_credential": _CREDENTIAL_NAME,
                        "timeout_s": {
                            "type": "number", "exclusiveMinimum": 0, "maximum": 600,
                            "default": 15,
                        },
                    },
                },
                "visible": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["x_mm", "y_mm", "width_mm", "height_mm"],
                    "description": "a visible signature box (off when absent): the doctor's "
                                   "name, the date and 'signé électroniquement' in the "
                                   "document's language; moved onto the page if it does not "
                                   "fit; certified documents get none",
                    "properties": {
                        "page": {"type": "integer", "not": {"const": 0}, "default": -1,
                                 "description": "1 = first page, -1 = last page"},
                        "x_mm": {"type": "number", "minimum": 0, "maximum": 2000},
                        "y_mm": {"type": "number", "minimum": 0, "maximum": 2000,
                                 "description": "from the bottom of the page"},
                        "width_mm": {"type": "number", "exclusiveMinimum": 0, "maximum": 2000},
                        "height_mm": {"type": "number", "exclusiveMinimum": 0,
                                      "maximum": 2000},
                    },
                },
                "trust_roots": {
                    "type": "array", "default": [],
                    "items": {"type": "string", "minLength": 1},
                    "description": "PEM files of the CA certificates that signatures must chain "
                                   "to; every signed PDF is checked against them before upload",
                },
            },
        },
        "identities": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["provider_code", "name"],
                "properties": {
                    "provider_code": {"type": "string", "pattern": "^[0-9]{8}$"},
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "login": {
                        "type": "string", "minLength": 1, "maxLength": 100,
                        "description": "the doctor's own login in the practice software: a "
                                       "sidecar's submitted_by naming it is the doctor",
                    },
                    "pkcs12": {"type": "string", "minLength": 1},
                    "pkcs11": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["module", "token_label"],
                        "description": "a key on a smart card or signing stick: the PKCS#11 "
                                       "module, the token's label, the key's label or id (hex) "
                                       "and the certificate's label (default: the key's label)",
                        "properties": {
                            "module": {"type": "string", "minLength": 1},
                            "token_label": {"type": "string", "minLength": 1, "maxLength": 32},
                            "key_label": {"type": "string", "minLength": 1},
                            "key_id": {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$"},
                            "cert_label": {"type": "string", "minLength": 1},
                        },
                        "oneOf": [{"required": ["key_label"]}, {"required": ["key_id"]}],
                    },
                    "unlock": {
                        "enum": ["file", "manual"],
                        "description": "file: the passphrase or PIN is read from "
                                       "passphrase_file/_env/_credential (unattended); manual: "
                                       "the doctor runs `econnector unlock` (default for pkcs11)",
                    },
                    "level": _LEVEL,
                    "auto_lock_after_s": {
                        "type": "number", "minimum": 60, "maximum": 604800,
                        "description": "lock a manual identity again after this long without "
                                       "a signature",
                    },
                    "passphrase_file": {"type": "string", "minLength": 1},
                    "passphrase_env": _ENV_NAME,
                    "passphrase_credential": _CREDENTIAL_NAME,
                },
                "oneOf": [{"required": ["pkcs12"]}, {"required": ["pkcs11"]}],
            },
        },
        "vault": {
            "type": "object",
            "additionalProperties": False,
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["local", "http"]},
                "url": {
                    "type": "string", "pattern": "^https?://",
                    "description": "https://; plain http:// only for a vault on this machine "
                                   "(127.0.0.1, ::1, localhost)",
                },
                "token_file": {"type": "string", "minLength": 1},
                "token_env": _ENV_NAME,
                "token_credential": _CREDENTIAL_NAME,
                "ca_bundle": {"type": "string", "minLength": 1},
                "data_dir": {"type": "string", "minLength": 1},
                "timeout_s": {
                    "type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 60
                },
                "concurrency": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4},
            },
            "if": {"properties": {"kind": {"const": "http"}}},
            "then": {
                "required": ["url"],
                "oneOf": [{"required": [k]} for k in
                          ("token_file", "token_env", "token_credential")],
            },
        },
        "patients": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "status_ttl_s": {
                    "type": "number", "minimum": 0, "maximum": 86400, "default": 3600,
                    "description": "how long a patient's digital status (green, blue, red) "
                                   "asked of the vault decides deliveries before it is asked "
                                   "again; 0 asks before every document",
                },
            },
        },
        "invoice_qr": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "description": "the QR code placed on invoices of patients who opted in "
                           "(docs/invoice-qr.md); positions from the page's bottom-left corner",
            "properties": {
                "enabled": {"type": "boolean", "default": True},
                "page": {"type": "integer", "minimum": 1, "default": 1},
                "x_mm": {"type": "number", "minimum": 0, "default": 180},
                "y_mm": {"type": "number", "minimum": 0, "default": 12},
                "size_mm": {"type": "number", "minimum": 15, "maximum": 60, "default": 20},
            },
        },
        "assistants": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "enforce": {
                    "type": "boolean", "default": False,
                    "description": "refuse a document whose submitted_by is neither its doctor "
                                   "(provider code or login) nor an assistant with a valid "
                                   "grant for that doctor (assistant-not-authorized)",
                },
            },
        },
        "audit": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "anchor_every_s": {
                    "type": "number", "minimum": 10, "maximum": 86400, "default": 3600,
                    "description": "how often the audit trail's head is timestamped by "
                                   "signing.tsa (when one is set and the trail has grown)",
                },
            },
        },
        "followup": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "description": "asking the vault what happened to delivered documents (opened "
                           "by the patient)",
            "properties": {
                "enabled": {"type": "boolean", "default": True},
                "poll_every_s": {"type": "number", "minimum": 1, "maximum": 86400,
                                 "default": 600},
                "window_days": {"type": "integer", "minimum": 1, "maximum": 365,
                                "default": 30},
                "max_per_round": {"type": "integer", "minimum": 1, "maximum": 10000,
                                  "default": 100},
            },
        },
        "retry": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "base_s": {"type": "number", "exclusiveMinimum": 0, "default": 2},
                "cap_s": {"type": "number", "exclusiveMinimum": 0, "default": 300},
            },
        },
        "receipts": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {"default_language": {"enum": ["fr", "de", "en"], "default": "fr"}},
        },
        "logging": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "properties": {
                "file": {"type": "string", "minLength": 1, "default": "-",
                         "description": "a JSON-lines file, rotated by size; \"-\" for "
                                        "stdout (the journal under systemd)"},
                "level": {"enum": ["debug", "info", "warning", "error"], "default": "info"},
                "max_mb": {"type": "integer", "minimum": 1, "maximum": 10240, "default": 20,
                           "description": "the log file is rotated at this size"},
                "keep": {"type": "integer", "minimum": 1, "maximum": 100, "default": 5,
                         "description": "rotated files kept (econnector.jsonl.1 ... .N)"},
                "console": {"enum": ["auto", "json", "text"], "default": "auto",
                            "description": "stdout as JSON lines or readable text; auto: "
                                           "text on a terminal, JSON otherwise"},
            },
        },
        "node": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "description": "several PCs of one practice on one shared outbox "
                           "(docs/multi-node.md)",
            "properties": {
                "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$",
                       "description": "this daemon's name among the practice's PCs "
                                      "(default: the host name)"},
                "shared_outbox": {"type": "boolean", "default": False,
                                  "description": "other nodes take drops from the same "
                                                 "outbox: claim each by a rename first"},
                "lease_s": {"type": "number", "minimum": 10, "maximum": 86400,
                            "default": 120,
                            "description": "a claim whose node has not renewed its lease "
                                           "for this long is taken over by another node"},
            },
        },
        "heartbeat": {
            "type": "object",
            "default": {},
            "additionalProperties": False,
            "description": "inbox/_econnector.json, for the practice software "
                           "(docs/folder-contract.md)",
            "properties": {
                "enabled": {"type": "boolean", "default": True},
                "interval_s": {"type": "number", "minimum": 1, "maximum": 300, "default": 5},
            },
        },
    },
}

_SECRET_KEYS = {"passphrase", "password", "token", "pin", "secret"}


def _path(err_path: Any) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in err_path]
    return ".".join(parts).replace(".[", "[") or "(top level)"


def _did_you_mean(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def first_error(doc: Any) -> ConfigError | None:
    """The one error to show for an invalid document (its key's dotted path), or None."""
    v = Draft202012Validator(SCHEMA)
    # Shallowest first; at one level an unknown key before a missing one (a misspelt
    # "identites" is both, and its "did you mean" says more).
    errors = sorted(v.iter_errors(doc), key=lambda e: (
        len(e.absolute_path), e.validator != "additionalProperties", e.message))
    if not errors:
        return None
    e = errors[0]
    where = _path(e.absolute_path)
    if e.validator == "additionalProperties":
        known = e.schema.get("properties", {})
        extra = sorted(set(e.instance) - set(known))
        key = extra[0] if extra else "?"
        full = f"{where}.{key}" if e.absolute_path else key
        if key.lower() in _SECRET_KEYS:
            return ConfigError(
                "secrets are never written in the config; use passphrase_file, "
                "passphrase_env or passphrase_credential (token_file, token_env or "
                "token_credential for the vault)",
                full,
            )
        return ConfigError("unknown key" + _did_you_mean(key, known), full)
    if e.validator == "oneOf":
        choices = [c["required"][0] for c in e.validator_value]
        return ConfigError("give exactly one of " + ", ".join(choices[:-1])
                           + f" or {choices[-1]}", where)
    if (e.validator == "type" and e.absolute_path and e.absolute_path[-1] == "provider_code"
            and isinstance(e.instance, int)):
        shown = str(e.instance) if len(str(e.instance)) == 8 else "01234567"
        return ConfigError(
            f"write the provider code in quotes (provider_code: \"{shown}\"): unquoted, "
            "YAML reads it as a number (and a leading 0 changes it)", where)
    return ConfigError(e.message, where)


def _filling_defaults(validator_class: Any) -> Any:
    """``validator_class`` that also sets each missing property to its ``default``.

    jsonschema's own recipe (its FAQ, "Why doesn't my schema's default property
    set the default on my instance?"): the ``properties`` keyword, extended.
    Chosen over a hand-written walk of the schema because it follows the schema
    exactly as validation does (``if``/``then``, nested objects, arrays of
    identities) with no second reading of it to keep in step. A section's own
    ``default: {}`` is set first and then descended into, so a config without
    ``watch:`` gets every watch default. Used only on a document that already
    validated (defaults never hide an error), and on a copy (see below).
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator: Any, properties: dict[str, Any], instance: Any,
                     schema: dict[str, Any]) -> Iterator[Any]:
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    # A copy: the schema's own {} must never be filled in.
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


_Filling = _filling_defaults(Draft202012Validator)


def with_defaults(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a valid config document with every default of :data:`SCHEMA` filled in."""
    filled = copy.deepcopy(doc)
    _Filling(SCHEMA).validate(filled)
    return filled
