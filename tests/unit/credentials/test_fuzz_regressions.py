"""Regressions of fuzz findings in :mod:`realdid.credentials` (docs/fuzzing.md).

OpenID4VP URLs (``response_uri`` of a request object, ``request_uri`` of an
``openid4vp://`` URL) were accepted when :func:`urllib.parse.urlsplit` could split them,
although no HTTP client can request them: an ASCII control character, a port that is not a
number in 0-65535, a dotted-quad host that is no IPv4 address. httpx raises ``InvalidURL``
for those — not an HTTP error — so the wallet's exchange with the relying party ended in an
unhandled exception. They are ``invalid_request`` refusals now, where the URL comes in;
each reproducer is also a regression seed in ``tests/fuzz/corpus/oid4vp_request``.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realdid.credentials import Oid4vpError, parse_authorization_url

from .test_oid4vp import CLIENT_ID, _refused, _signed, _url, _verify

NOT_REQUESTABLE = [
    ("https://forum.example/cb\x00", "control character"),
    ("https://forum.example/c\tb", "control character"),
    ("https://forum\x7f.example/cb", "control character"),
    ("https://forum.example\n/cb", "control character"),
    ("https://forum.example:0x/cb", "is not a URL"),
    ("https://forum.example:1:2/cb", "is not a URL"),
    ("https://1.2.3.999/cb", "host is not an IPv4 address"),
    ("https://01.2.3.4444/cb", "host is not an IPv4 address"),
]


@pytest.mark.parametrize(("uri", "match"), NOT_REQUESTABLE)
def test_a_response_uri_no_http_client_can_request_is_refused(uri: str, match: str) -> None:
    with pytest.raises(httpx.InvalidURL):
        httpx.Request("POST", uri)  # what the wallet would otherwise have tried
    _refused("invalid_request", match, _verify, _signed(response_uri=uri))


@pytest.mark.parametrize(("uri", "match"), NOT_REQUESTABLE)
def test_a_request_uri_no_http_client_can_request_is_refused(uri: str, match: str) -> None:
    _refused(
        "invalid_request",
        match,
        parse_authorization_url,
        _url(client_id=CLIENT_ID, request_uri=uri),
    )


@pytest.mark.parametrize("port", ["65536", "99999", "-1"])
def test_a_port_outside_0_to_65535_is_refused(port: str) -> None:
    """httpx would accept these and fail on connect; urlsplit says they are no port."""
    uri = f"https://forum.example:{port}/cb"
    _refused("invalid_request", "is not a URL", _verify, _signed(response_uri=uri))


@pytest.mark.parametrize(
    "uri",
    [
        "https://forum.example:443/cb",
        "https://forum.example:65535/cb",
        "https://forum.example:/cb",  # an empty port is the default port
        "https://192.0.2.1/cb",
        "https://1.2.3.4.5/cb",  # not IPv4-shaped: a registered name to HTTP clients
        "http://127.0.0.1:8080/cb",
        "https://forum.example/cb?q=a b",  # a space is percent-encoded by clients, not refused
    ],
)
def test_requestable_response_uris_are_still_accepted(uri: str) -> None:
    httpx.Request("POST", uri)
    assert _verify(_signed(response_uri=uri)).response_uri == uri


@settings(max_examples=300, deadline=None)
@given(
    host=st.one_of(
        st.sampled_from(["forum.example", "127.0.0.1", "[::1]"]),
        st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,4}){3}\Z"),
    ),
    separator=st.sampled_from([":", "/", "?"]),
    tail=st.text(st.characters(codec="ascii", exclude_characters="@"), max_size=20),
)
def test_an_accepted_url_is_one_httpx_can_request(host: str, separator: str, tail: str) -> None:
    """Differential: every ``https`` URL the check accepts, httpx builds a request for. The
    host is fixed by the strategy (no ``@``): hosts outside ASCII and IDNA A-labels are
    checked by httpx alone, which is the wallet's to handle."""
    uri = f"https://{host}{separator}{tail}"
    try:
        parse_authorization_url(_url(client_id=CLIENT_ID, request_uri=uri))
    except Oid4vpError:
        return
    assert httpx.Request("GET", uri).url.host in (host, host.strip("[]"))
