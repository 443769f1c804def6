"""The identity authority's HTTP API (FastAPI). docs/api.md lists every route and problem type.

* ``GET /.well-known/openid-credential-issuer``, ``GET /.well-known/oauth-authorization-server``
* ``POST /1.0/challenges`` — a single-use nonce for one signed application
* ``POST /1.0/enrollments`` · ``POST /1.0/site-proofs`` · ``POST /1.0/business-enrollments``
  — ``{"application": <compact JWS>}``; 201 with an OpenID4VCI credential offer
* ``POST /oid4vci/token`` (form) · ``POST /oid4vci/nonce`` · ``POST /oid4vci/credential``
* ``GET /status-lists/{n}`` — Token Status List JWT (``application/statuslist+jwt``)
* ``/admin/…`` — operators only (Bearer token + role); every action is audited.
  ``POST /admin/rp-registrations`` (rp-registrar) offers an RpRegistration credential
* ``GET /healthz``

Errors are RFC 9457 problems with a stable ``type``, each code with the status and title
:data:`~._problem_types.AUTHORITY_PROBLEMS` declares; an error says its code, the table
the rest. OpenID4VCI errors additionally carry the OAuth ``error`` / ``error_description``
members that OAuth clients read. Request bodies are read with a cap
(:func:`realdid.http.read_bounded_body`): a declared length over it is refused unread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from realdid import __version__, ijson
from realdid.credentials import CredentialError, Oid4vciError
from realdid.http import (
    NO_RATE_LIMITS,
    ClientDisconnect,
    MalformedFormError,
    PayloadTooLargeError,
    RateLimiter,
    client_disconnected,
    instrument,
    parse_form,
    problem_response,
    read_bounded_body,
)
from realdid.storage import DatabaseUnavailableError

from ._errors import AuthorityError
from ._operators import Operator, Role
from ._problem_types import AUTHORITY_PROBLEMS
from ._service import Authority

log = logging.getLogger(__name__)

STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"
#: The largest request body any route reads (an application is a few KiB).
MAX_BODY_BYTES = 32 * 1024
# RFC 6750 section 3: a 401 names the scheme and realm the client must authenticate with.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="realdid-authority"'}


def problem(code: str, detail: str, **extensions: Any) -> JSONResponse:
    """The RFC 9457 answer for ``code`` with the status and title :data:`AUTHORITY_PROBLEMS`
    gives it; a 401 carries the Bearer challenge. A code the table does not declare is a
    bug here, answered (and logged) as an internal error rather than with a made-up status.
    """
    problem_type = AUTHORITY_PROBLEMS.get(code)
    if problem_type is None:
        log.error("no problem type is declared for code %r", code)
        problem_type = AUTHORITY_PROBLEMS["internal-error"]
        detail, extensions = "the request could not be completed", {}
    headers = _CHALLENGE if problem_type.status == 401 else None
    return problem_response(problem_type, detail, headers=headers, **extensions)


class _RefusalError(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise _RefusalError(problem("unsupported-media-type", "send application/json"))
    body = await read_bounded_body(request, MAX_BODY_BYTES)
    try:
        return ijson.loads(body)
    except ijson.IJsonError as e:
        raise _RefusalError(problem("malformed-json", f"request body: {e}")) from e


def _form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; a repeated parameter is an error (RFC 6749 3.2)."""
    try:
        return parse_form(body)
    except MalformedFormError as e:
        raise Oid4vciError("invalid_request", str(e)) from e


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def create_authority_app(
    get_authority: Callable[[], Authority | None], *, rate_limits: RateLimiter = NO_RATE_LIMITS
) -> FastAPI:
    """The API over whatever :class:`Authority` ``get_authority`` returns (None: still starting).

    ``rate_limits`` charges each client for challenges (rule ``challenges``) and for
    applications — enrollments, site proofs, business enrollments (rule ``enrollments``).
    """
    app = FastAPI(
        title="RealDID identity authority",
        version=__version__,
        summary="Real-name enrollment, OpenID4VCI credential issuance, Token Status Lists.",
    )

    app.add_exception_handler(ClientDisconnect, client_disconnected)
    instrument(app, "authority")

    def ready() -> Authority:
        authority = get_authority()
        if authority is None:
            raise _RefusalError(
                problem(
                    "authority-starting", "the authority's DID is not anchored yet; retry shortly"
                )
            )
        return authority

    def operator(request: Request, role: Role | set[Role]) -> Operator:
        return ready().authenticate(_bearer(request), role)

    @app.exception_handler(_RefusalError)
    async def refusal(_: Request, exc: _RefusalError) -> Response:
        return exc.response

    @app.exception_handler(PayloadTooLargeError)
    async def too_large(_: Request, exc: PayloadTooLargeError) -> Response:
        return problem(exc.code, str(exc))

    @app.exception_handler(Oid4vciError)
    async def oid4vci_problem(_: Request, exc: Oid4vciError) -> Response:
        # The OAuth ``error`` is the problem code here (``OAuthProblemType``), and the
        # OAuth members ride along for OAuth clients (RFC 6749 section 5.2).
        return problem(exc.error, exc.description, **exc.to_dict())

    @app.exception_handler(DatabaseUnavailableError)
    async def storage_problem(_: Request, exc: DatabaseUnavailableError) -> Response:
        log.warning("request refused, database unavailable: %s", exc)
        response = problem("storage-unavailable", "retry in a moment")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(AuthorityError)
    async def authority_problem(_: Request, exc: AuthorityError) -> Response:
        return problem(exc.code, str(exc))

    @app.exception_handler(CredentialError)
    async def credential_problem(_: Request, exc: CredentialError) -> Response:
        return problem(exc.code, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(_: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "no-such-resource", 405: "method-not-allowed"}.get(
            exc.status_code, "invalid-request"
        )
        return problem(code, "see /docs for the API")

    @app.exception_handler(RequestValidationError)
    async def validation_problem(_: Request, exc: RequestValidationError) -> Response:
        return problem("invalid-request", "request parameters do not match the API (see /docs)")

    @app.exception_handler(Exception)
    async def internal_problem(_: Request, exc: Exception) -> Response:
        log.exception("unhandled error while serving a request")  # request data is never logged
        return problem("internal-error", "the request could not be completed")

    # -- discovery ------------------------------------------------------------------------------
    @app.get("/.well-known/openid-credential-issuer")
    def issuer_metadata() -> dict[str, Any]:
        return ready().issuer_metadata()

    @app.get("/.well-known/oauth-authorization-server")
    def as_metadata() -> dict[str, Any]:
        return ready().authorization_server_metadata()

    @app.get("/healthz")
    def healthz() -> Response:
        authority = get_authority()
        if authority is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse(
            {"status": "ok", "issuer": authority.issuer.did, "keyId": authority.issuer.key_id}
        )

    # -- applications --------------------------------------------------------------------------
    @app.post("/1.0/challenges", status_code=201)
    def challenge(request: Request) -> Any:
        refused = rate_limits.refusal("challenges", request)
        if refused is not None:
            return refused
        nonce, expires_at = ready().challenge()
        return {"nonce": nonce, "expires_at": expires_at}

    def _application_route(path: str, method: Callable[[Authority], Callable[..., Any]]) -> None:
        async def handler(request: Request) -> Response:
            refused = rate_limits.refusal("enrollments", request)
            if refused is not None:
                return refused
            body = await _json_body(request)
            if (
                not isinstance(body, dict)
                or set(body) != {"application"}
                or not isinstance(body["application"], str)
            ):
                return problem("invalid-request", 'body must be {"application": "<compact JWS>"}')
            authority = ready()
            client = request.client.host if request.client else "unknown"
            offer = await run_in_threadpool(method(authority), body["application"], client=client)
            return JSONResponse(
                {"credential_offer": offer.offer, "credential_offer_uri": offer.uri},
                status_code=201,
            )

        app.add_api_route(path, handler, methods=["POST"], status_code=201)

    _application_route("/1.0/enrollments", lambda a: a.enroll)
    _application_route("/1.0/site-proofs", lambda a: a.request_site_proof)
    _application_route("/1.0/business-enrollments", lambda a: a.enroll_business)

    # -- OpenID4VCI ------------------------------------------------------------------------------
    @app.post("/oid4vci/token")
    async def token(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise Oid4vciError("invalid_request", "send application/x-www-form-urlencoded")
        fields = _form(await read_bounded_body(request, MAX_BODY_BYTES))
        authority = ready()
        body = await run_in_threadpool(authority.token, fields)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.post("/oid4vci/nonce")
    def nonce() -> Response:
        return JSONResponse(ready().nonce(), headers={"Cache-Control": "no-store"})

    @app.post("/oid4vci/credential")
    async def credential(request: Request) -> Response:
        body = await _json_body(request)
        authority = ready()
        answer = await run_in_threadpool(authority.credential, _bearer(request), body)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    @app.get("/status-lists/{list_id}")
    def status_list(list_id: int) -> Response:
        authority = ready()
        jwt = authority.status_list_jwt(list_id) if 0 < list_id < 2**31 else None
        if jwt is None:
            return problem("no-such-resource", "no status list with this number")
        max_age = authority.config.status_list_ttl
        return Response(
            jwt, media_type=STATUS_LIST_MEDIA_TYPE, headers={"Cache-Control": f"max-age={max_age}"}
        )

    # -- operators -----------------------------------------------------------------------------------
    @app.post("/admin/revocations")
    async def revoke(request: Request) -> dict[str, Any]:
        who = operator(request, Role.REVOCATION_OFFICER)
        body = await _json_body(request)
        if not isinstance(body, dict) or not set(body) <= {"did", "id_number", "reason"}:
            raise _RefusalError(
                problem("invalid-request", 'body is {"did" | "id_number", "reason"}')
            )
        did, id_number, reason = body.get("did"), body.get("id_number"), body.get("reason")
        if not all(v is None or isinstance(v, str) for v in (did, id_number, reason)):
            raise _RefusalError(problem("invalid-request", "did, id_number and reason are strings"))
        count = await run_in_threadpool(
            ready().revoke, who, reason=reason or "", did=did, id_number=id_number
        )
        return {"revoked": count}

    @app.post("/admin/lockouts/clear")
    async def clear_lockout(request: Request) -> dict[str, Any]:
        who = operator(request, Role.ENROLLMENT_OFFICER)
        body = await _json_body(request)
        if (
            not isinstance(body, dict)
            or set(body) != {"id_number"}
            or not isinstance(body["id_number"], str)
        ):
            raise _RefusalError(problem("invalid-request", 'body is {"id_number": "..."}'))
        return {"cleared": ready().clear_lockout(who, body["id_number"])}

    @app.post("/admin/rp-registrations", status_code=201)
    async def register_relying_party(request: Request) -> Response:
        who = operator(request, Role.RP_REGISTRAR)
        body = await _json_body(request)
        if (
            not isinstance(body, dict)
            or set(body) != {"did", "purpose", "permitted"}
            or not isinstance(body["did"], str)
            or not isinstance(body["purpose"], str)
            or not isinstance(body["permitted"], dict)
            or not all(
                isinstance(names, list) and all(isinstance(n, str) for n in names)
                for names in body["permitted"].values()
            )
        ):
            raise _RefusalError(
                problem(
                    "invalid-request",
                    'body is {"did": "...", "purpose": "...", "permitted": {vct: [claim, ...]}}',
                )
            )
        offer = await run_in_threadpool(
            ready().register_relying_party, who, body["did"], body["purpose"], body["permitted"]
        )
        return JSONResponse(
            {"credential_offer": offer.offer, "credential_offer_uri": offer.uri}, status_code=201
        )

    @app.get("/admin/audit")
    def audit(request: Request, after: int = 0, limit: int = 100) -> dict[str, Any]:
        operator(request, Role.AUDITOR)
        authority = ready()
        # Database integers are 64-bit: a larger ``after`` would be a 500, not an empty page.
        first = min(max(after, 0), 2**63 - 1)
        entries = authority.audit.entries(after=first, limit=min(max(limit, 1), 1000))
        return {"entries": [e.to_json() for e in entries]}

    @app.post("/admin/issuer-key/rotations")
    async def rotate_issuer_key(request: Request) -> dict[str, Any]:
        who = operator(request, Role.SECURITY_OFFICER)
        authority = ready()
        rotate = getattr(authority.issuer, "rotate", None)
        if rotate is None:
            raise _RefusalError(
                problem("invalid-request", "this authority's signer rotates outside RealDID")
            )
        key_id = await run_in_threadpool(authority.rotate_issuer_key, who, rotate)
        return {"keyId": key_id}

    return app
