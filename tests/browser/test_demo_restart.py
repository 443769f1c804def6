"""The demo bootstrap is idempotent: a restart reuses the relying parties it registered.

Same data directory, same ports, served twice: the RP DIDs stay the same, the authority
registered each RP once (its audit log says so), and the demo's secret files are owner-only.
No browser needed; this is the demo's own server, separate from the session one.
"""

from __future__ import annotations

import re
import sqlite3
import stat
import urllib.parse
from pathlib import Path

import httpx

from .conftest import Ports, serving


def rp_did(site: str) -> str:
    """The site's client DID, from its login page's same-device link."""
    page = httpx.get(f"{site}/login", timeout=10).text
    match = re.search(r'href="(openid4vp://[^"]+)"', page)
    assert match is not None, page
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(match.group(1).replace("&amp;", "&")).query)
    (client_id,) = query["client_id"]
    assert client_id.startswith("decentralized_identifier:did:realdid:")
    return client_id.removeprefix("decentralized_identifier:")


def audit_count(data_dir: Path, action: str) -> int:
    db = sqlite3.connect(f"file:{data_dir / 'authority' / 'authority.db'}?mode=ro", uri=True)
    try:
        return int(
            db.execute("SELECT count(*) FROM audit_log WHERE action = ?", (action,)).fetchone()[0]
        )
    finally:
        db.close()


def test_restart_reuses_registrations(tmp_path: Path) -> None:
    ports, data_dir, log = Ports.free(), tmp_path / "data", tmp_path / "serve.log"
    sites = [ports.url(ports.demo), ports.url(ports.demo + 2)]  # forum, hotel
    with serving(data_dir, ports, log):
        first = [rp_did(site) for site in sites]
        bridge = httpx.get(f"{ports.url(ports.demo + 3)}/.well-known/openid-configuration")
        assert bridge.status_code == 200
        assert bridge.json()["issuer"] == ports.url(ports.demo + 3)
        assert httpx.get(f"{ports.url(ports.demo + 1)}/").status_code == 200
    assert audit_count(data_dir, "rp.registered") == 3
    assert audit_count(data_dir, "enrollment.accepted") == 3  # the three businesses

    with serving(data_dir, ports, log):
        assert [rp_did(site) for site in sites] == first
    assert audit_count(data_dir, "rp.registered") == 3
    assert audit_count(data_dir, "enrollment.accepted") == 3
    assert len(set(first)) == 2

    demo_dir = data_dir / "demo"
    for secret in ("wallet-passphrase", "session-secret", "bridge/oidc-client-secret"):
        mode = stat.S_IMODE((demo_dir / secret).stat().st_mode)
        assert mode == 0o600, (secret, oct(mode))
    assert "Traceback" not in log.read_text(errors="replace")
