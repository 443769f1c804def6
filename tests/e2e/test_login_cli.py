"""Private login end to end: ``realdid wallet login`` against a real RP, node and authority.

* ``realdid serve`` (node + authority) with a synthetic population and business register;
* a resident enrolled with the CLI (RealName credential for the root DID);
* an enterprise enrolled against the business register, registered as an RP by an
  ``rp-registrar`` operator, its registration redeemed into its wallet with the CLI;
* that enterprise's website: ``realdid.rp.RelyingParty`` + ``login_routes`` served by uvicorn
  in this process;
* the resident logs in by URL and by typed code: the first login creates and anchors a
  per-site DID and obtains a site proof; the site signs the person in as that DID, learning
  only what it asked; a refusal tells the site ``access_denied``; ``history`` lists it all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from realdid.credentials import CredentialQuery, DcqlQuery
from realdid.crypto import DEFAULT_POLICY
from realdid.rp import (
    HttpDidResolver,
    LoginRequestStore,
    PendingLogin,
    RelyingParty,
    RelyingPartyConfig,
    StatusListCache,
    login_routes,
)
from realdid.wallet import Wallet

from ._cli import PASSPHRASE, free_port, realdid, succeeds
from .test_enrollment import (  # noqa: F401 - ``server`` is the module-scoped fixture
    Holder,
    Server,
    business_register,
    enrolled,
    fails_with_one_line,
    new_holder,
    registered_rp,
    server,
)

pytestmark = pytest.mark.e2e

SITE_PROOF = "urn:realdid:SiteProof"
PURPOSE = "Adults-only discussion board"


@dataclass(frozen=True)
class Site:
    rp: RelyingParty
    base_url: str
    name: str
    did: str


@dataclass(frozen=True)
class Resident:
    holder: Holder
    node: str


@pytest.fixture(scope="module")
def site(server: Server) -> Iterator[Site]:  # noqa: F811 - the imported fixture
    """An enterprise, business-enrolled and registered as an RP, serving its login routes."""
    company = business_register(server, "login")[0]
    forum, registration = registered_rp(server, "forum", company, PURPOSE)
    wallet = Wallet.open(forum.wallet, PASSPHRASE)
    issuer = httpx.get(f"{server.authority}/healthz", timeout=5).json()["issuer"]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    resolver = HttpDidResolver(server.node, ttl=5)
    trusted = frozenset({issuer})
    rp = RelyingParty(
        RelyingPartyConfig(
            base_url=base_url,
            client_did=forum.did,
            key_id=wallet.key_id(forum.did),
            registration=registration,
            trusted_issuers=trusted,
        ),
        signer=wallet.signing_key(forum.did),
        store=LoginRequestStore(server.scratch / "rp-logins.db"),
        resolver=resolver,
        status_lists=StatusListCache(
            resolver=resolver, trusted_issuers=trusted, policy=DEFAULT_POLICY
        ),
    )
    app = FastAPI()
    app.include_router(login_routes(rp))
    web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not web.started:
        assert thread.is_alive(), "the RP did not start"
        assert time.monotonic() < deadline, "the RP did not start in time"
        time.sleep(0.05)
    try:
        yield Site(rp, base_url, company["name"], forum.did)
    finally:
        web.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def resident(server: Server) -> Resident:  # noqa: F811 - the imported fixture
    holder = new_holder(server, "rosa")
    enrolled(server, holder, server.residents[6])
    return Resident(holder, server.node)


def request(site: Site) -> PendingLogin:
    return site.rp.create_request(
        DcqlQuery((CredentialQuery("site", (SITE_PROOF,), ("age_over_18",)),))
    )


def wallet_login(resident: Resident, *args: str) -> list[str]:
    return [
        "wallet", "login", *args, "--wallet-dir", str(resident.holder.wallet),
        "--node", resident.node,
    ]  # fmt: skip


def history(resident: Resident) -> list[dict[str, object]]:
    out = succeeds(
        realdid("wallet", "history", "--wallet-dir", resident.holder.wallet, "--json")
    ).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_login_by_url_then_by_code(site: Site, resident: Resident) -> None:
    pending = request(site)
    first = succeeds(
        realdid(*wallet_login(resident, pending.authorization_url, "--consent", "allow"))
    )
    line = first.stdout.strip()
    assert first.stdout == line + "\n"
    assert line.startswith(f"logged in to {site.name} as did:realdid:"), line
    site_did = line.rsplit(" ", 1)[-1]
    assert site_did != resident.holder.did
    outcome = site.rp.outcome(pending.transaction)
    assert outcome.state == "done", outcome
    assert outcome.login is not None
    assert outcome.login.subject == site_did
    assert outcome.login.credential_type == SITE_PROOF
    assert set(outcome.login.claims) <= {"age_over_18", "verified_person", "assurance_level"}

    # The typed code at the same site: the same per-site DID, no new site proof.
    again = request(site)
    second = succeeds(
        realdid(*wallet_login(resident, again.code, "--site", site.base_url, "--consent", "allow"))
    )
    assert second.stdout.strip() == line
    assert site.rp.outcome(again.transaction).state == "done"
    listed = succeeds(realdid("wallet", "credentials", "--wallet-dir", resident.holder.wallet))
    assert listed.stdout.count("SiteProof") == 1

    dids = succeeds(realdid("wallet", "did", "list", "--wallet-dir", resident.holder.wallet))
    (site_line,) = [row for row in dids.stdout.splitlines() if row.startswith(site_did)]
    assert site_line.endswith(f"\tsite {site.did}")

    entries = history(resident)
    assert [e["outcome"] for e in entries] == ["released", "released"]
    assert entries[0]["site_did"] == site_did
    assert entries[0]["rp_name"] == site.name
    assert entries[0]["purpose"] == PURPOSE
    assert entries[0]["claims"] == ["age_over_18", "assurance_level", "verified_person"]
    table = succeeds(realdid("wallet", "history", "--wallet-dir", resident.holder.wallet))
    assert table.stdout.splitlines()[0].startswith("time (UTC)\tsite\t")
    assert len(table.stdout.splitlines()) == 3


@pytest.mark.parametrize("consent", ["deny", "ask"])
def test_declined_login_tells_the_site(site: Site, resident: Resident, consent: str) -> None:
    pending = request(site)
    before = len(history(resident))
    # "ask" without a terminal cannot get a yes: it declines.
    result = realdid(*wallet_login(resident, pending.authorization_url, "--consent", consent))
    # Progress (and, for "ask", the summary shown) precede the one error line.
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last == f"error: login declined: nothing was released to {site.name}", last
    if consent == "ask":
        assert PURPOSE in result.stderr
        assert "age_over_18" in result.stderr
    outcome = site.rp.outcome(pending.transaction)
    assert outcome.state == "failed", outcome
    assert outcome.error == "access_denied"  # the RP keeps the wallet's OAuth error code
    entries = history(resident)
    assert len(entries) == before + 1
    assert entries[-1]["outcome"] == "refused"


@pytest.mark.parametrize(
    "args", [["nonsense"], ["ABCD-EFGH"]], ids=["not-a-target", "code-without-site"]
)
def test_bad_targets_fail_on_one_line(resident: Resident, args: list[str]) -> None:
    result = realdid(*wallet_login(resident, *args, "--consent", "allow"))
    fails_with_one_line(result, "invalid-login-target")


def test_unreachable_site(resident: Resident) -> None:
    args = ["ZZZZ-ZZZZ", "--site", "http://127.0.0.1:1", "--consent", "allow"]
    result = realdid(*wallet_login(resident, *args))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: rp-unreachable: "), result.stderr
