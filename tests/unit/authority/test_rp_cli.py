"""``realdid authority rp register`` and ``realdid wallet redeem``: arguments and errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from realdid.authority import RP_REGISTRATION, Offer, Role, create_authority_app
from realdid.cli import create_app
from realdid.credentials import CredentialOffer

from .conftest import Env

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

AUTHORITY = "http://authority.test"
TOKEN = "rdop_" + "A" * 43


def _invoke(*args: str, transport: httpx.BaseTransport | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(create_app(transport), list(args))
    return result.exit_code, result.stdout, result.stderr


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
    return err


def _register(
    *permits: str,
    did: str = "did:realdid:QmRp",
    authority: str = AUTHORITY,
    transport: httpx.BaseTransport | None = None,
) -> tuple[int, str, str]:
    args = ["authority", "rp", "register", "--authority", authority, "--did", did]
    args += ["--purpose", "member login"]
    for permit in permits:
        args += ["--permit", permit]
    return _invoke(*args, transport=transport)


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REALDID_OPERATOR_TOKEN", TOKEN)


@pytest.mark.parametrize(
    ("permits", "message"),
    [
        pytest.param((), "give at least one --permit", id="none"),
        pytest.param(("Business:company_name",), "credential type must be", id="business"),
        pytest.param(("urn:realdid:SiteProof:age_over_18",), "credential type", id="vct"),
        pytest.param(("SiteProof",), "no empty claim names", id="no-colon"),
        pytest.param(("SiteProof:",), "no empty claim names", id="no-claims"),
        pytest.param(("SiteProof:age_over_18,,province",), "no empty claim", id="empty-claim"),
        pytest.param(
            ("SiteProof:age_over_18", "SiteProof:province"), "given twice", id="repeated-type"
        ),
    ],
)
def test_register_argument_errors(token_env: None, permits: tuple[str, ...], message: str) -> None:
    err = _one_line_error(*_register(*permits))
    assert message in err


def test_register_needs_a_token_and_an_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REALDID_OPERATOR_TOKEN", raising=False)
    assert "REALDID_OPERATOR_TOKEN" in _one_line_error(*_register("SiteProof:age_over_18"))
    monkeypatch.setenv("REALDID_OPERATOR_TOKEN", TOKEN)
    err = _one_line_error(*_register("SiteProof:age_over_18", authority="ftp://authority"))
    assert "--authority must be an http(s) URL" in err


def test_register_unreachable_authority(token_env: None) -> None:
    err = _one_line_error(*_register("SiteProof:age_over_18", authority="http://127.0.0.1:1"))
    assert "cannot reach the authority" in err


def test_register_prints_the_offer_uri(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    rp, enterprise = env.resolver.create(), env.enterprises[0]
    env.collect(env.enroll_business(rp, enterprise), rp)
    _, registrar = env.operator(Role.RP_REGISTRAR)
    _, auditor = env.operator(Role.AUDITOR)
    with TestClient(create_authority_app(lambda: env.authority)) as client:

        def request(request: httpx.Request) -> httpx.Response:
            assert str(request.url).startswith(AUTHORITY)
            return client.send(request, follow_redirects=False)

        # The CLI's network seam: its HTTP goes to the in-process authority app.
        transport = httpx.MockTransport(request)
        monkeypatch.setenv("REALDID_OPERATOR_TOKEN", registrar)
        code, out, err = _register(
            "SiteProof:verified_person,age_over_18",
            "RealName:family_name",
            did=rp.did,
            transport=transport,
        )
        assert code == 0, err
        assert out.startswith("openid-credential-offer://?credential_offer=")
        assert out.count("\n") == 1
        assert CredentialOffer.parse(out.strip()).configuration_ids == (RP_REGISTRATION,)
        assert f"offered an RpRegistration credential to {rp.did}" in err
        sd_jwt = env.collect(Offer("from-the-cli", CredentialOffer.parse(out.strip())), rp)
        assert env.verify(sd_jwt, rp).claims["permitted"] == {
            "urn:realdid:RealName": ["family_name"],
            "urn:realdid:SiteProof": ["age_over_18", "verified_person"],
        }
        # The authority's refusals come back as one line with the problem code.
        err = _one_line_error(*_register("SiteProof:id_number", did=rp.did, transport=transport))
        assert err.startswith("error: invalid-permitted-claims: ")
        err = _one_line_error(
            *_register("SiteProof:age_over_18", did="did:realdid:QmNobody", transport=transport)
        )
        assert err.startswith("error: not-an-enterprise: ")
        monkeypatch.setenv("REALDID_OPERATOR_TOKEN", auditor)
        assert _one_line_error(
            *_register("SiteProof:age_over_18", did=rp.did, transport=transport)
        ).startswith("error: forbidden: ")


# -- wallet redeem -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "offer",
    [
        pytest.param("not an offer", id="garbage"),
        pytest.param("openid-credential-offer://?credential_offer=%7B%7D", id="empty-object"),
        pytest.param("openid-credential-offer://?credential_offer=%7B", id="bad-json"),
        pytest.param(
            "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fx.test%2Fo", id="by-ref"
        ),
        pytest.param(
            CredentialOffer(
                "http://evil.test",  # http only on loopback
                (RP_REGISTRATION,),
                "c",
            ).serialize(),
            id="plain-http-issuer",
        ),
    ],
)
def test_redeem_refuses_a_bad_offer_before_opening_the_wallet(tmp_path: Path, offer: str) -> None:
    err = _one_line_error(
        *_invoke(
            "wallet",
            "redeem",
            offer,
            "--wallet-dir",
            str(tmp_path / "wallet"),
            "--did",
            "did:realdid:QmRp",
            "--authority",
            AUTHORITY,
        )
    )
    assert err.startswith("error: OFFER_URI: ")
    assert not (tmp_path / "wallet").exists()
