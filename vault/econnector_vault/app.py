"""The vault API v1 as a Starlette app over a :class:`VaultStore`.

The same app object serves the reference HTTP server and, through
``httpx.ASGITransport``, the daemon's in-process ``local`` vault, so both
speak byte-for-byte the same protocol. :func:`create_app` only wires the
routes; each concern has its module: who may call (:mod:`.auth`), the upload
(:mod:`.upload`), the error answers (:mod:`.problems`, RFC 9457 with a stable
``code``, never echoing submitted values) and the access log
(:mod:`.accesslog`, matricules masked). With ``simulator=True`` it also
serves the patient simulator (:class:`Simulator`: tests and demos play the
patient), which otherwise does not exist.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from econnector_vault import __version__
from econnector_vault.accesslog import AccessLog
from econnector_vault.auth import authenticated, grants_from
from econnector_vault.billing import parse_quarter
from econnector_vault.errors import FieldError
from econnector_vault.metadata import is_matricule, is_provider_code
from econnector_vault.patients import DIGITAL_STATUSES, PatientDirectory, digital_status
from econnector_vault.problems import (
    forbidden_provider,
    http_error,
    internal_error,
    problem,
    query_invalid,
    request_invalid,
)
from econnector_vault.store import VaultStore
from econnector_vault.upload import Upload

__all__ = ["SIMULATOR_PREFIX", "Simulator", "VaultRoutes", "create_app"]

SIMULATOR_PREFIX = "/v1/simulator"


def create_app(
    store: VaultStore,
    tokens: Mapping[str, Collection[str]],
    patients: Mapping[str, str] | PatientDirectory | None,
    *,
    access_log: bool = False,
    simulator: bool = False,
) -> Starlette:
    """The vault API v1 over ``store``; ``tokens`` maps each bearer token to its provider codes.

    ``patients`` maps matricule to digital status (green/blue/red); patients
    not listed are green. A :class:`PatientDirectory` is used as it is (so it
    may reload its file); any other mapping is copied. ``simulator`` adds the
    patient simulator's routes (docs/vault-api.md, "Patient simulator").
    """
    grants = grants_from(tokens)
    directory = patients if isinstance(patients, PatientDirectory) else PatientDirectory(patients)
    routes = VaultRoutes(store, directory)
    upload = Upload(store, directory)
    extra: list[Route] = []
    if simulator:
        sim = Simulator(store, directory)
        extra = [
            Route(
                SIMULATOR_PREFIX + "/documents/{vault_document_id}/open",
                authenticated(grants, sim.open_document),
                methods=["POST"],
            ),
            Route(
                SIMULATOR_PREFIX + "/patients/{matricule}/digital-status",
                authenticated(grants, sim.set_status),
                methods=["PUT"],
            ),
        ]
    app = Starlette(
        routes=[
            *extra,
            Route("/v1/health", routes.health, methods=["GET"]),
            Route("/v1/openapi.yaml", routes.openapi, methods=["GET"]),
            Route("/v1/documents", authenticated(grants, upload), methods=["POST"]),
            Route(
                "/v1/documents/{vault_document_id}",
                authenticated(grants, routes.get_document),
                methods=["GET"],
            ),
            Route(
                "/v1/patients/{matricule}/digital-status",
                authenticated(grants, routes.patient_status),
                methods=["GET"],
            ),
            Route("/v1/billing/activity", authenticated(grants, routes.billing), methods=["GET"]),
            Route("/v1/token", authenticated(grants, routes.token_info), methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    if access_log:
        app.add_middleware(AccessLog)
    return app


class VaultRoutes:
    """The read handlers of the API (the upload is :class:`~econnector_vault.upload.Upload`)."""

    def __init__(self, store: VaultStore, patients: PatientDirectory) -> None:
        self.store = store
        self.patients = patients
        self.openapi_text = (
            resources.files("econnector_vault").joinpath("openapi.yaml").read_text("utf-8")
        )

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__})

    async def token_info(self, request: Request) -> Response:
        # Side-effect free: check-config asks it to learn whether the token works, and for whom.
        return JSONResponse({"provider_codes": sorted(request.state.providers)})

    async def openapi(self, request: Request) -> Response:
        return Response(self.openapi_text, media_type="application/yaml")

    async def get_document(self, request: Request) -> Response:
        vault_document_id = request.path_params["vault_document_id"]
        doc = await run_in_threadpool(self.store.get, vault_document_id, request.state.providers)
        if doc is None:
            return problem(404, "not-found", "Not found", "No document has this id.")
        return JSONResponse(doc.as_json())

    async def patient_status(self, request: Request) -> Response:
        matricule = request.path_params["matricule"]
        if not is_matricule(matricule):
            return query_invalid([FieldError("matricule", "must be 13 digits")])
        return JSONResponse(
            {"matricule": matricule, "status": digital_status(self.patients, matricule)}
        )

    async def billing(self, request: Request) -> Response:
        quarter = request.query_params.get("quarter")
        provider_code = request.query_params.get("provider_code")
        errors: list[FieldError] = []
        if parse_quarter(quarter) is None:
            errors.append(FieldError("quarter", "must look like 2026Q4"))
        if provider_code is None or not is_provider_code(provider_code):
            errors.append(FieldError("provider_code", "must be 8 digits"))
        if errors or quarter is None or provider_code is None:
            return query_invalid(errors)
        if provider_code not in request.state.providers:
            return forbidden_provider()
        activity = await run_in_threadpool(self.store.billing_activity, quarter, provider_code)
        return JSONResponse(activity.as_json())


class Simulator:
    """The patient's side, for tests and demos (``--patient-simulator``): open a document,
    change a digital status. Not part of the vault API v1 the daemon speaks."""

    def __init__(self, store: VaultStore, patients: PatientDirectory) -> None:
        self.store = store
        self.patients = patients

    async def open_document(self, request: Request) -> Response:
        """The patient opens a document of the token's providers; the first opening is kept."""
        vault_document_id = request.path_params["vault_document_id"]
        doc = await run_in_threadpool(
            self.store.open_document, vault_document_id, request.state.providers
        )
        if doc is None:
            return problem(404, "not-found", "Not found", "No document has this id.")
        return JSONResponse(
            {"vault_document_id": doc.vault_document_id, "opened_at": doc.opened_at}
        )

    async def set_status(self, request: Request) -> Response:
        """The patient changes their digital status (kept until the vault stops, or until
        the patients file changes)."""
        matricule = request.path_params["matricule"]
        if not is_matricule(matricule):
            return query_invalid([FieldError("matricule", "must be 13 digits")])
        try:
            body = await request.json()
        except ValueError:
            return request_invalid("The body must be JSON: {\"status\": \"red\"}.")
        status = body.get("status") if isinstance(body, dict) else None
        if status not in DIGITAL_STATUSES:
            return request_invalid(
                "The body must be JSON: {\"status\": \"red\"}.",
                [FieldError("status", "must be one of " + ", ".join(DIGITAL_STATUSES))],
            )
        self.patients.set(matricule, str(status))
        return JSONResponse({"matricule": matricule, "status": status})
