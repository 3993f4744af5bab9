"""The folder contract v1: which outbox files count, and what a sidecar must say.

This is the vendors' API (docs/folder-contract.md). Everything here is a pure
function of its inputs so the rules can be tested exhaustively; the pipeline
does the I/O. Rules are strict and exact on purpose: a drop is either accepted
as written or refused with an error naming the field, the defect and the fix,
never silently reinterpreted.

Sidecar errors are :class:`~econnector.errors.SidecarError` with a catalog
code. Validation collects every error it can; the raised one is the first in
a fixed order, and :func:`all_errors` gives the full list.
"""

from __future__ import annotations

import copy
import enum
import json
import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final, Literal

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import MappingNode, Node, ScalarNode

from econnector import matricule
from econnector.errors import SidecarError

Format = Literal["yaml", "json"]

# -- file names -----------------------------------------------------------------


class Kind(enum.Enum):
    PDF = "pdf"
    SIDECAR = "sidecar"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Name:
    """A classified outbox file name.

    ``ext`` is the final extension without the dot, lower-cased (``"pdf"``,
    ``"yaml"``, ``"yml"``, ``"json"``); ``stem`` is everything before it, as written.
    ``stem_ok`` is always False for IGNORED names.
    """

    kind: Kind
    stem: str
    ext: str
    stem_ok: bool
    fmt: Format | None


STEM_RE: Final = r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}"
_STEM = re.compile(STEM_RE)
_BY_EXT: dict[str, tuple[Kind, Format | None]] = {
    "pdf": (Kind.PDF, None),
    "yaml": (Kind.SIDECAR, "yaml"),
    "yml": (Kind.SIDECAR, "yaml"),
    "json": (Kind.SIDECAR, "json"),
}
_TEMP_PREFIXES = (".", "~$")
_TEMP_SUFFIXES = (".tmp", ".part")


def classify(name: str) -> Name:
    """Classify a bare outbox file name (no directory part).

    Hidden names, Office lock files (``~$*``), ``*.tmp``/``*.part`` and every
    extension other than .pdf/.yaml/.yml/.json (case-insensitive) are IGNORED,
    so writers can use them as temporary names. ``.yml`` is YAML like ``.yaml``
    (vendors write both); two sidecars for one stem are refused by the pipeline
    as ``sidecar-ambiguous``, never guessed between. A PDF or sidecar whose stem
    breaks :data:`STEM_RE` keeps its kind with ``stem_ok=False`` so the
    pipeline can answer it with ``bad-file-name`` instead of ignoring it.
    """
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    # Only ASCII is case-folded: some non-ASCII letters lower-case to ASCII ones.
    if ext.isascii():
        ext = ext.lower()
    lowered = name.lower() if name.isascii() else name
    if (
        not stem
        or name.startswith(_TEMP_PREFIXES)
        or lowered.endswith(_TEMP_SUFFIXES)
        or ext not in _BY_EXT
    ):
        return Name(Kind.IGNORED, stem, ext, False, None)
    kind, fmt = _BY_EXT[ext]
    return Name(kind, stem, ext, _STEM.fullmatch(stem) is not None, fmt)


# -- schema v1 constants --------------------------------------------------------

SCHEMA_ID: Final = "econnector.document/v1"
DOC_TYPES: Final = ("invoice", "prescription", "certificate", "sick-leave-certificate")
# Medical content belongs in the shared care record (DSP), not the vault: these
# names get a specific refusal instead of "unknown type". Matched after
# lower-casing and turning spaces/underscores into hyphens.
MEDICAL_TYPES: Final = frozenset(
    [
        "anamnesis",
        "arztbrief",
        "befund",
        "biology",
        "biology-report",
        "clinical-note",
        "compte-rendu",
        "consultation-note",
        "consultation-report",
        "diagnosis",
        "discharge-letter",
        "discharge-summary",
        "ecg",
        "entlassungsbrief",
        "histology",
        "imaging",
        "imaging-report",
        "lab",
        "lab-report",
        "lab-result",
        "laboratory-report",
        "laboratory-result",
        "laborbefund",
        "lettre-de-sortie",
        "medical-history",
        "medical-letter",
        "medical-record",
        "medical-report",
        "mri",
        "operative-report",
        "pathology",
        "pathology-report",
        "patient-summary",
        "radiologie",
        "radiology",
        "radiology-report",
        "rapport-medical",
        "referral-letter",
        "report",
        "test-result",
        "ultrasound",
        "vaccination-record",
        "x-ray",
    ]
)
INSURERS: Final = ("CNS", "CMFEP", "CMFEC", "EMCFL", "RCAM")
LANGUAGES: Final = ("fr", "de", "en")
MAX_SIDECAR_BYTES: Final = 65536
MAX_DEPTH: Final = 32  # nested mappings/lists; the schema itself needs 2

_TOP_FIELDS = (
    "schema",
    "document_id",
    "type",
    "issued_at",
    "language",
    "patient",
    "author",
    "submitted_by",
    "invoice",
)
_PATIENT_FIELDS = ("matricule", "last_name", "first_name", "insurer")
_AUTHOR_FIELDS = ("provider_code",)
_INVOICE_FIELDS = ("total", "currency", "paid")

_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PROVIDER = re.compile(r"[0-9]{8}")
_TOTAL = re.compile(r"(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,2})?")
_ISSUED = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(?:(Z)|([+-])([0-9]{2}):([0-9]{2}))"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CENT = Decimal("0.01")


# -- the parsed document --------------------------------------------------------


@dataclass(frozen=True)
class Patient:
    matricule: str
    insurer: str
    last_name: str | None
    first_name: str | None


@dataclass(frozen=True)
class Invoice:
    total: Decimal  # quantized to cents: Decimal("84.60")
    currency: str
    paid: bool


@dataclass(frozen=True)
class DocumentMeta:
    """A validated v1 sidecar.

    ``extensions`` holds the ``x-`` keys in document order as ``(path, value)``:
    top-level ones as ``"x-name"``, nested ones as ``"patient.x-name"``,
    ``"author.x-name"`` or ``"invoice.x-name"``; values are plain JSON data.
    Compare documents with :meth:`canonical_json`, not ``==``: ``==`` treats
    two ``issued_at`` with different offsets but the same instant as equal.
    """

    document_id: str
    type: str
    issued_at: datetime
    language: str | None
    patient: Patient
    provider_code: str
    submitted_by: str | None
    invoice: Invoice | None
    extensions: tuple[tuple[str, Any], ...] = ()

    def canonical(self) -> dict[str, Any]:
        """The vault metadata: also the content that duplicate detection hashes.

        The sidecar's own shape minus ``schema`` (the vault's metadata schema
        has no such key; add it back and the result parses to this document
        again). Absent optional fields are left out, never null; ``issued_at``
        is normalised (seconds always written, ``Z`` as ``+00:00``, the
        original offset kept); ``invoice.total`` has two decimals, as a string.
        Only top-level ``x-`` keys are included: the vault allows extensions
        at the top level only, so nested ones are accepted but not forwarded.
        """
        patient: dict[str, Any] = {"matricule": self.patient.matricule}
        if self.patient.last_name is not None:
            patient["last_name"] = self.patient.last_name
        if self.patient.first_name is not None:
            patient["first_name"] = self.patient.first_name
        patient["insurer"] = self.patient.insurer

        out: dict[str, Any] = {
            "document_id": self.document_id,
            "type": self.type,
            "issued_at": self.issued_at.isoformat(),
        }
        if self.language is not None:
            out["language"] = self.language
        out["patient"] = patient
        out["author"] = {"provider_code": self.provider_code}
        if self.submitted_by is not None:
            out["submitted_by"] = self.submitted_by
        if self.invoice is not None:
            out["invoice"] = {
                "total": str(self.invoice.total.quantize(_CENT)),
                "currency": self.invoice.currency,
                "paid": self.invoice.paid,
            }
        for path, value in self.extensions:
            if _is_ext(path):
                out[path] = copy.deepcopy(value)
        return out

    def canonical_json(self) -> bytes:
        """:meth:`canonical` as compact UTF-8 JSON with sorted keys: hash or compare this."""
        return json.dumps(
            self.canonical(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        ).encode("utf-8")


# -- reading YAML safely --------------------------------------------------------


@dataclass(frozen=True)
class _Ambiguous:
    """A plain YAML scalar that YAML 1.1 reads as non-text but other readers may not.

    ``no``, ``2026-11-25``, ``0123`` or ``10:15`` mean a boolean, a date, an
    octal or a base-60 number to YAML 1.1 and text to YAML 1.2. Neither
    reading is safe to guess, so validation refuses them with ``field-type``
    (except ``issued_at``, which takes the text as written).
    """

    text: str
    reading: str


_STR_TAG = "tag:yaml.org,2002:str"
_AMBIGUOUS = "tag:econnector,2026:ambiguous:"
# Plain scalars that YAML 1.1 and 1.2 read the same way; other non-text ones are traps.
_AGREED = {
    "tag:yaml.org,2002:null": re.compile(r".*", re.S),
    "tag:yaml.org,2002:bool": re.compile(r"true|True|TRUE|false|False|FALSE"),
    "tag:yaml.org,2002:int": re.compile(r"[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+"),
    "tag:yaml.org,2002:float": re.compile(r"[^_:]*"),
}
_READINGS = {
    "bool": "a yes/no boolean",
    "int": "an octal, binary or base-60 number",
    "float": "a base-60 number",
    "timestamp": "a date or time",
    "merge": "a merge key",
    "value": "a special value",
}


def _at(event: NodeEvent | Node) -> str:
    mark = event.start_mark
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""


def _yaml_feature(detail: str) -> SidecarError:
    return SidecarError("sidecar-yaml-feature", detail=detail)


def _syntax(fmt: Format, detail: str) -> SidecarError:
    return SidecarError("sidecar-syntax", format=fmt.upper(), detail=detail)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors, aliases, tags, merge keys or duplicate keys.

    Aliases are refused while composing, before anything is expanded, so a
    billion-laughs document costs one event. Nesting is bounded before the
    recursive composer can exhaust the stack. Keys are always the key's text.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise _yaml_feature(f"an alias (*name){_at(event)}")
        if isinstance(event, NodeEvent) and event.anchor is not None:
            raise _yaml_feature(f"an anchor (&name){_at(event)}")
        tag = getattr(event, "tag", None)
        if tag is not None:
            raise _yaml_feature(f"a tag ({_clip(str(tag))}){_at(event)}")
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _syntax("yaml", f"nested deeper than {MAX_DEPTH} levels{_at(event)}")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        tag = super().resolve(kind, value, implicit)
        if kind is ScalarNode and implicit[0] and tag != _STR_TAG:
            agreed = _AGREED.get(tag)
            if agreed is None or not agreed.fullmatch(value):
                return _AMBIGUOUS + tag.rsplit(":", 1)[-1]
        return tag

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _yaml_feature(f"a list or mapping used as a key{_at(key_node)}")
            key = key_node.value
            if key == "<<" and key_node.style is None:
                raise _yaml_feature(f"a merge key (<<){_at(key_node)}")
            if key in mapping:
                raise _syntax("yaml", f"duplicate key {_show(key)}{_at(key_node)}")
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _construct_ambiguous(loader: yaml.SafeLoader, suffix: str, node: Node) -> _Ambiguous:
    return _Ambiguous(str(node.value), _READINGS.get(suffix, "a non-text value"))


_StrictLoader.add_multi_constructor(_AMBIGUOUS, _construct_ambiguous)


def _load_yaml(text: str) -> Any:
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _syntax("json", f"duplicate key {_show(key)}")
        out[key] = value
    return out


def _json_constant(name: str) -> Any:
    raise _syntax("json", f"{name} is not a JSON number")


def _parse(text: str, fmt: Format) -> Any:
    """Parse text into plain data; any failure becomes a SidecarError.

    Details name the problem and its position but never quote the document:
    the sidecar holds personal data and error messages end up in logs.
    """
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
        return _load_yaml(text)
    except SidecarError:
        raise
    except json.JSONDecodeError as e:
        raise _syntax(fmt, f"{e.msg} (line {e.lineno}, column {e.colno})") from None
    except yaml.MarkedYAMLError as e:
        raise _syntax(fmt, f"{e.problem or e.context or 'invalid'}{_at_mark(e)}") from None
    except yaml.reader.ReaderError as e:
        raise _syntax(fmt, f"{e.reason} (character {e.position + 1})") from None
    except RecursionError:
        raise _syntax(fmt, "nested too deeply") from None
    except Exception as e:  # the parser libraries may raise anything for hostile input
        raise _syntax(fmt, f"unreadable ({type(e).__name__})") from None


def _at_mark(e: yaml.MarkedYAMLError) -> str:
    mark = e.problem_mark or e.context_mark
    return f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""


def _check_tree(root: Any, fmt: Format) -> None:
    """Bound nesting and refuse lone surrogates (JSON ``\\ud800`` escapes) everywhere."""
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            if depth > MAX_DEPTH:
                raise _syntax(fmt, f"nested deeper than {MAX_DEPTH} levels")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise SidecarError("sidecar-encoding")
                stack.append((value, depth))
        elif isinstance(node, str) and _SURROGATE.search(node):
            raise SidecarError("sidecar-encoding")


# -- validation -----------------------------------------------------------------


def _clip(text: str, limit: int = 40) -> str:
    """Vendor text made safe for one log line: escaped controls, bounded length."""
    out = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text[:limit])
    return out + "…" if len(text) > limit else out


def _show(value: Any) -> str:
    """A short rendering of a vendor value for messages that do not quote it."""
    if isinstance(value, str):
        return f'"{_clip(value)}"'
    if isinstance(value, _Ambiguous):
        return _clip(value.text)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _clip(repr(value))
    return "a list" if isinstance(value, list) else "a mapping"


def _is_ext(key: str) -> bool:
    return key.startswith("x-") and len(key) > 2


_ABSENT: Final = object()


class _Validator:
    """Checks a parsed sidecar in a fixed order, collecting errors."""

    def __init__(self, providers: Collection[str], today: date) -> None:
        self.providers = providers
        self.today = today
        self.errors: list[SidecarError] = []
        self.extensions: list[tuple[str, Any]] = []

    def fail(self, code: str, field: str | None = None, **params: Any) -> None:
        self.errors.append(SidecarError(code, field=field, **params))

    def wrong_type(self, path: str, value: Any, expected: str) -> None:
        # ``expected`` and ``reading`` are fixed phrases, translated when rendered.
        if isinstance(value, _Ambiguous):
            self.fail("field-type", path, expected=expected, reading=value.reading)
        else:
            self.fail("field-type", path, expected=expected)

    def keys(self, mapping: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for key, value in mapping.items():
            if _is_ext(key):
                self.extensions.append((prefix + key, value))
            elif key not in allowed:
                self.fail("field-unknown", prefix + _clip(key, 64))

    def get(self, mapping: dict[str, Any], key: str, path: str, required: bool) -> Any:
        """The value, or _ABSENT; null counts as absent."""
        value = mapping.get(key)
        if value is None:
            if required:
                self.fail("field-missing", path)
            return _ABSENT
        return value

    def string(
        self, mapping: dict[str, Any], key: str, path: str, expected: str, required: bool = True
    ) -> str | None:
        value = self.get(mapping, key, path, required)
        if value is _ABSENT:
            return None
        if type(value) is not str:
            self.wrong_type(path, value, expected)
            return None
        return value

    def block(
        self, mapping: dict[str, Any], key: str, allowed: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """A nested mapping, or None (after recording why) when absent or not a mapping."""
        value = self.get(mapping, key, key, required=True)
        if value is _ABSENT:
            return None
        if not isinstance(value, dict):
            self.wrong_type(key, value, "a mapping of keys to values")
            return None
        self.keys(value, key + ".", allowed)
        return value

    # -- the fields, in documented order --

    def run(self, root: dict[str, Any]) -> DocumentMeta | None:
        schema = root.get("schema")
        if schema is None:
            self.fail("field-missing", "schema")
            return None
        if schema != SCHEMA_ID:
            self.fail("sidecar-schema", "schema", value=_show(schema))
            return None
        self.keys(root, "", _TOP_FIELDS)
        document_id = self.document_id(root)
        doc_type = self.doc_type(root)
        issued_at = self.issued_at(root)
        language = self.language(root)
        patient = self.patient(root)
        provider_code = self.author(root)
        submitted_by = self.submitted_by(root)
        invoice = self.invoice(root, doc_type)
        self.check_extensions()
        if self.errors:
            return None
        assert document_id and doc_type and issued_at and patient and provider_code
        return DocumentMeta(
            document_id=document_id,
            type=doc_type,
            issued_at=issued_at,
            language=language,
            patient=patient,
            provider_code=provider_code,
            submitted_by=submitted_by,
            invoice=invoice,
            extensions=tuple(self.extensions),
        )

    def document_id(self, root: dict[str, Any]) -> str | None:
        expected = 'a quoted string like "2026-000123"'
        value = self.string(root, "document_id", "document_id", expected)
        if value is not None and not _ID.fullmatch(value):
            self.fail("document-id-invalid", "document_id")
            return None
        return value

    def doc_type(self, root: dict[str, Any]) -> str | None:
        value = self.string(root, "type", "type", "a string such as invoice")
        if value is None or value in DOC_TYPES:
            return value
        normalised = re.sub(r"[\s_]+", "-", value.strip().lower())
        code = "document-type-medical" if normalised in MEDICAL_TYPES else "document-type-unknown"
        self.fail(code, "type", value=_clip(value))
        return None

    def issued_at(self, root: dict[str, Any]) -> datetime | None:
        value = self.get(root, "issued_at", "issued_at", required=True)
        if value is _ABSENT:
            return None
        # An unquoted YAML timestamp is read as its text, so it obeys the same rule.
        text = value.text if isinstance(value, _Ambiguous) else value
        if type(text) is not str:
            self.wrong_type(
                "issued_at", value, 'a date-time string like "2026-11-25T10:15:00+01:00"'
            )
            return None
        parsed = _parse_issued_at(text)
        if parsed is None:
            self.fail("issued-at-invalid", "issued_at", value=_show(text))
        return parsed

    def language(self, root: dict[str, Any]) -> str | None:
        value = self.string(root, "language", "language", "a string: fr, de or en", False)
        if value is not None and value not in LANGUAGES:
            self.fail("language-unsupported", "language", value=_clip(value))
            return None
        return value

    def patient(self, root: dict[str, Any]) -> Patient | None:
        block = self.block(root, "patient", _PATIENT_FIELDS)
        if block is None:
            return None
        expected = "a quoted string of 13 digits"
        number = self.string(block, "matricule", "patient.matricule", expected)
        if number is not None:
            try:
                matricule.validate(number, self.today)
            except SidecarError as e:
                self.errors.append(e)
                number = None
        last_name = self.name(block, "last_name")
        first_name = self.name(block, "first_name")
        insurer = self.string(
            block, "insurer", "patient.insurer", "a string: CNS, CMFEP, CMFEC, EMCFL or RCAM"
        )
        if insurer is not None and insurer not in INSURERS:
            self.fail("insurer-unknown", "patient.insurer", value=_clip(insurer))
            insurer = None
        if number is None or insurer is None:
            return None
        return Patient(number, insurer, last_name, first_name)

    def name(self, block: dict[str, Any], key: str) -> str | None:
        path = "patient." + key
        value = self.string(block, key, path, "a quoted string", required=False)
        # Never quote a name in the error: messages end up in logs.
        if value is not None and not 1 <= len(value) <= 100:
            self.fail(
                "field-invalid",
                path,
                detail="it must be 1 to 100 characters long.",
                hint_detail="Shorten it to at most 100 characters, or leave it out.",
            )
        elif value is not None and _CONTROL.search(value):
            self.fail(
                "field-invalid",
                path,
                detail="it contains line breaks, tabs or similar characters.",
                hint_detail="Write it on one line, without line breaks or tabs.",
            )
        else:
            return value
        return None

    def author(self, root: dict[str, Any]) -> str | None:
        block = self.block(root, "author", _AUTHOR_FIELDS)
        if block is None:
            return None
        path = "author.provider_code"
        code = self.string(block, "provider_code", path, "a quoted string of 8 digits")
        if code is None:
            return None
        if not _PROVIDER.fullmatch(code):
            self.fail(
                "field-invalid",
                path,
                detail="a provider code has exactly 8 digits.",
                hint_detail="Choose the doctor again in the practice software (8-digit "
                "provider code, e.g. 90812100) and send the document again.",
            )
            return None
        if code not in self.providers:
            self.fail("provider-unknown", path, value=code)
            return None
        return code

    def submitted_by(self, root: dict[str, Any]) -> str | None:
        path = "submitted_by"
        value = self.string(root, path, path, "a quoted string", required=False)
        if value is not None and not _ID.fullmatch(value):
            self.fail(
                "field-invalid",
                path,
                detail="it must be 1 to 64 letters without accents, digits, dots, dashes "
                "or underscores.",
                hint_detail="Use the assistant's login or initials, e.g. anna, or leave it out.",
            )
            return None
        return value

    def invoice(self, root: dict[str, Any], doc_type: str | None) -> Invoice | None:
        present = root.get("invoice") is not None
        if doc_type is not None and doc_type != "invoice":
            if present:
                self.fail("invoice-not-allowed", "invoice", value=doc_type)
            return None
        if not present:
            if doc_type == "invoice":
                self.fail("invoice-missing", "invoice")
            return None
        block = self.block(root, "invoice", _INVOICE_FIELDS)
        if block is None:
            return None
        total = self.total(block)
        currency = self.string(block, "currency", "invoice.currency", "the string EUR")
        if currency is not None and currency != "EUR":
            self.fail("invoice-currency", "invoice.currency", value=_show(currency))
            currency = None
        paid = self.get(block, "paid", "invoice.paid", required=True)
        if paid is not _ABSENT and type(paid) is not bool:
            self.wrong_type("invoice.paid", paid, "true or false")
        if total is None or currency is None or type(paid) is not bool:
            return None
        return Invoice(total, currency, paid)

    def total(self, block: dict[str, Any]) -> Decimal | None:
        path = "invoice.total"
        value = self.string(block, "total", path, 'a quoted decimal string like "84.60"')
        if value is None:
            return None
        if not _TOTAL.fullmatch(value) or Decimal(value) <= 0:
            self.fail("invoice-total-invalid", path, value=_show(value))
            return None
        return Decimal(value).quantize(_CENT)

    def check_extensions(self) -> None:
        """Extension values are free-form JSON data, but without YAML traps or NaN/infinity."""
        for path, value in self.extensions:
            for where, leaf in _leaves(value, path):
                if isinstance(leaf, _Ambiguous):
                    self.wrong_type(where, leaf, "a quoted string")
                elif isinstance(leaf, float) and not math.isfinite(leaf):
                    self.fail(
                        "field-invalid",
                        where,
                        detail="infinite and not-a-number values are not allowed.",
                        hint_detail="Tell the software vendor: write a finite number or a "
                        "quoted string.",
                    )


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Scalar leaves of a (depth-bounded) tree with their paths, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{_clip(key, 64)}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, f"{path}[{i}]")
    else:
        yield path, value


def _parse_issued_at(text: str) -> datetime | None:
    """RFC 3339 / ISO 8601 extended date-time with a mandatory offset, else None.

    Seconds may be omitted (Java writes ``10:15+01:00``); fractions beyond
    microseconds are truncated; ``T`` or one space separates date and time.
    """
    m = _ISSUED.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    if zulu:
        tz = UTC
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            return None
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0").ljust(6, "0")[:6])
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
        )
    except ValueError:
        return None


# -- the entry point ------------------------------------------------------------

_BOM = b"\xef\xbb\xbf"


def parse_sidecar(
    data: bytes,
    fmt: Format,
    *,
    providers: Collection[str],
    today: date,
    max_bytes: int = MAX_SIDECAR_BYTES,
) -> DocumentMeta:
    """Parse and validate a sidecar; raise SidecarError (and nothing else) if it is not valid v1.

    Order: size, UTF-8 (a BOM is accepted), syntax, structure, then the fields
    in the order of the folder contract's table. ``providers`` are the
    configured doctors' provider codes; ``today`` bounds the matricule's
    birth date.
    """
    data = bytes(data)
    if len(data) > max_bytes:
        raise _first([SidecarError("sidecar-too-large", size=len(data), limit=max_bytes)])
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _first([SidecarError("sidecar-encoding")]) from None
    if "\x00" in text:  # never valid in YAML or JSON; typically UTF-16 without a BOM
        raise _first([SidecarError("sidecar-encoding")])
    try:
        root = _parse(text, fmt)
        _check_tree(root, fmt)
    except SidecarError as e:
        raise _first([e]) from None
    if not isinstance(root, dict):
        raise _first([SidecarError("sidecar-not-mapping")])
    validator = _Validator(providers, today)
    meta = validator.run(root)
    if meta is None:
        raise _first(validator.errors, sidecar_language(root))
    return meta


def sidecar_language(root: Any) -> str | None:
    """The ``language`` of a parsed sidecar if it is one econnector speaks, else None.

    Read even when the sidecar is refused for another field (a bad matricule),
    so the error file is written in the staff's language, not the default.
    """
    if isinstance(root, dict):
        value = root.get("language")
        if type(value) is str and value in LANGUAGES:
            return value
    return None


def _first(errors: list[SidecarError], language: str | None = None) -> SidecarError:
    """The first error, carrying all of them as ``errors`` (see :func:`all_errors`) and
    the sidecar's readable ``language`` (each of them)."""
    first = errors[0]
    setattr(first, "errors", tuple(errors))  # noqa: B010 - SidecarError declares no such slot
    for e in errors:
        e.language = language
    return first


def all_errors(exc: SidecarError) -> tuple[SidecarError, ...]:
    """Every error found in the sidecar that raised ``exc`` (``exc`` itself first)."""
    found = getattr(exc, "errors", None)
    return found if isinstance(found, tuple) and found else (exc,)


# -- the documented example -----------------------------------------------------

_EXAMPLE = """\
# econnector sidecar, schema v1: 2026-000123.yaml next to 2026-000123.pdf
schema: econnector.document/v1
document_id: "2026-000123"
type: invoice
issued_at: "2026-11-25T10:15:00+01:00"
language: fr
patient:
  matricule: "1893120105732"
  last_name: "Weber"
  first_name: "Anne"
  insurer: CNS
author:
  provider_code: "90812100"
submitted_by: "anna"
invoice:
  total: "84.60"
  currency: EUR
  paid: false
"""


def example_sidecar() -> str:
    """The folder contract's example sidecar (YAML); valid with provider 90812100."""
    return _EXAMPLE
