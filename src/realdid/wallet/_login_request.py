"""Steps 1, 2 and 8 of private login: talking to the relying party itself.

The wallet speaks to the RP three times, always directly and never through a central
service (ADR 0012 "Short codes"): to resolve a typed or scanned login code into the
``openid4vp://`` URL it stands for, to fetch the signed request object from its
``request_uri`` (OpenID4VP 1.0 section 5.7), and to ``direct_post`` the answer to its
``response_uri`` (section 8.2). Every answer is read through the bounded download of
:mod:`realdid.registry` and every refusal through :func:`realdid.http.parse_problem`, so a
hostile site can neither flood the wallet nor inject text into what the resident sees.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from realdid import ijson
from realdid.clock import Clock
from realdid.credentials import (
    REQUEST_OBJECT_MEDIA_TYPE,
    AuthorizationRequest,
    Oid4vpError,
    error_response_form,
    normalise_code,
    parse_authorization_url,
    verify_request_object,
)
from realdid.crypto import AlgorithmPolicy, PublicKey
from realdid.did import verification_key
from realdid.http import MAX_RESPONSE_BYTES, ResponseTooLargeError, download, parse_problem
from realdid.registry import NodeClientError, RegistryClient

from ._errors import LoginFlowError

#: The RP's short-code path: ``https://rp/oid4vp/codes/XXXX-XXXX`` answers the URL it stands for.
CODE_PATH = "/oid4vp/codes/"


def is_http_url(url: str) -> bool:
    """An absolute ``http(s)`` URL with a host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def code_url(target: str, site: str | None) -> str | None:
    """The RP URL to resolve ``target`` at, or None when it is already an ``openid4vp://`` URL.

    A typed code is normalised as the RP normalises it (:func:`realdid.credentials.normalise_code`,
    Crockford folding), so a code the RP issued is found however the resident typed it.
    """
    text = target.strip()
    if text.startswith("openid4vp://"):
        return None
    if text.startswith(("http://", "https://")):
        if not is_http_url(text) or CODE_PATH not in urlsplit(text).path:
            raise LoginFlowError(
                "invalid-login-target",
                f"a login URL must be openid4vp://… or an RP code URL …{CODE_PATH}CODE",
            )
        return text
    code = normalise_code(text)
    if code is None:
        raise LoginFlowError(
            "invalid-login-target",
            "give an openid4vp:// URL, the site's code URL, or its 8-character code XXXX-XXXX",
        )
    if site is None:
        raise LoginFlowError(
            "invalid-login-target", "a login code needs the site's address: add --site URL"
        )
    if not is_http_url(site):
        raise LoginFlowError("invalid-login-target", "--site must be an http(s) URL")
    return site.rstrip("/") + CODE_PATH + quote(code)


def active_document(node: RegistryClient, did: str) -> Mapping[str, Any]:
    """An active DID's document; :class:`LookupError` if not anchored or deactivated."""
    try:
        result = node.resolve(did)
    except NodeClientError as e:
        if e.code in ("did-not-found", "invalid-did", "invalidDid"):
            raise LookupError(f"{did} is not anchored in the registry") from e
        raise
    if result.deactivated or result.did_document is None:
        raise LookupError(f"{did} is deactivated")
    return result.did_document


def problem_code(response: httpx.Response) -> str:
    """The RealDID problem code of a refusal, or ``http-<status>`` for anything else."""
    return parse_problem(response.status_code, response.content).code


class RpChannel:
    """The wallet's HTTP exchange with the relying party of one login."""

    def __init__(
        self,
        http: httpx.Client,
        node: RegistryClient,
        *,
        clock: Clock,
        policy: AlgorithmPolicy,
        progress: Callable[[str], None],
    ) -> None:
        self.http = http
        self.node = node
        self.clock = clock
        self.policy = policy
        self.progress = progress

    # -- 1: the login target ------------------------------------------------------------------
    def authorization_url(self, target: str, site: str | None) -> str:
        """The ``openid4vp://`` URL ``target`` is or stands for (asked of the RP for a code)."""
        url = code_url(target, site)
        if url is None:
            return target.strip()
        self.progress(f"resolving the login code at {url}")
        response = self.get(url, accept="application/json")
        if response.status_code != 200:
            raise LoginFlowError(
                "invalid-login-target",
                f"the site does not know this login code ({problem_code(response)}): "
                "it may have expired or been mistyped",
            )
        body = _json(response)
        found = body.get("authorization_url") if isinstance(body, dict) else None
        if not isinstance(found, str) or not found.startswith("openid4vp://"):
            raise LoginFlowError(
                "invalid-login-target", "the site's code answer holds no openid4vp:// URL"
            )
        return found

    # -- 2: the request object ----------------------------------------------------------------
    def fetch_request(self, url: str) -> AuthorizationRequest:
        """Fetch the request object ``url`` points to and verify it with the RP DID's key."""
        try:
            client_id, request_uri = parse_authorization_url(url)
        except Oid4vpError as e:
            raise LoginFlowError("invalid-login-target", e.description) from e
        response = self.get(request_uri, accept=REQUEST_OBJECT_MEDIA_TYPE)
        if response.status_code != 200:
            code = problem_code(response)
            raise LoginFlowError(
                f"rp-refused:{code}", f"the site refused to send its request ({code})"
            )
        try:
            return verify_request_object(
                response.text.strip(),
                resolve_key=self.rp_key,
                now=self.clock.now(),
                policy=self.policy,
                expected_client_id=client_id,
            )
        except Oid4vpError as e:
            raise LoginFlowError("invalid-request-object", e.description) from e

    def rp_key(self, kid: str) -> PublicKey:
        """The RP's request-signing key: ``authentication`` or ``assertionMethod``."""
        document = active_document(self.node, kid.partition("#")[0])
        key = verification_key(document, kid, purpose="authentication") or verification_key(
            document, kid, purpose="assertionMethod"
        )
        if key is None:
            raise LookupError(f"the RP's DID document lists no key {kid}")
        return key

    # -- 8: the response ----------------------------------------------------------------------
    def post(self, request: AuthorizationRequest, form: dict[str, str]) -> str | None:
        """``direct_post`` the answer; the RP's ``redirect_uri``, if it sent one."""
        response = self.exchange(
            "POST", request.response_uri, "cannot reach the site to answer", data=form
        )
        if response.status_code != 200:
            code = problem_code(response)
            raise LoginFlowError(f"rp-refused:{code}", f"the site refused the login ({code})")
        body = _json(response)
        redirect = body.get("redirect_uri") if isinstance(body, dict) else None
        return redirect if isinstance(redirect, str) else None

    def tell_rp(self, request: AuthorizationRequest, error: str, description: str) -> None:
        """Best effort: let the site's login page stop waiting; a failure changes nothing."""
        with contextlib.suppress(LoginFlowError):
            self.post(request, error_response_form(error, description[:200], request.state))

    def get(self, url: str, *, accept: str) -> httpx.Response:
        unreachable = f"cannot reach the site at {_origin(url)}"
        return self.exchange("GET", url, unreachable, headers={"Accept": accept})

    def exchange(self, method: str, url: str, unreachable: str, **kwargs: Any) -> httpx.Response:
        """One bounded request to the RP; ``rp-unreachable`` when it fails or floods."""
        try:
            return download(self.http, method, url, max_length=MAX_RESPONSE_BYTES, **kwargs)
        except ResponseTooLargeError as e:
            raise LoginFlowError("rp-unreachable", "the site's answer is too large") from e
        except httpx.HTTPError as e:
            raise LoginFlowError("rp-unreachable", f"{unreachable}: {type(e).__name__}") from e
        except (httpx.InvalidURL, UnicodeError) as e:
            # A host httpx cannot encode (not a valid internationalised domain name, a bad
            # "xn--" label): the link came from a QR code or a paste, so it is the site's
            # URL that is wrong, not the wallet.
            raise LoginFlowError(
                "rp-unreachable", f"{unreachable}: the URL's host is invalid"
            ) from e


def _json(response: httpx.Response) -> Any:
    try:
        return ijson.loads(response.content)
    except ValueError:
        return None


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return "?"
    return f"{parts.scheme}://{parts.netloc}"
