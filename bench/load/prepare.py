"""``prepare``: enroll a pool of residents and get their site proofs, once, for later runs.

A login needs a resident who already holds a credential: an anchored root DID enrolled
with the authority, and for each site a per-site DID with a SiteProof for it. Building
that costs two anchoring rounds and a dozen requests per resident, so it is done here,
ahead of the runs, and kept in the state file. ``prepare`` is incremental: run again it
keeps the residents it has, tops the pool up to ``--pool``, gives existing residents an
account at any new ``--site`` and renews site proofs that expire within
``--min-validity``. The load generator never enrolls a pooled resident again during a run
(re-enrolling revokes a resident's earlier credentials and with them its site proofs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from realdid.credentials import CredentialType
from realdid.did import to_dict

from .acklog import AckLog
from .mix import SpecError
from .pool import (
    Applicant,
    PooledResident,
    PoolState,
    SiteAccount,
    SiteInfo,
    create_operation,
    new_seed,
    root_base,
    save_state,
    site_base,
)
from .protocol import LOGIN_PATH, Deployment, StepError, Timer, short_type

SAVE_EVERY = 10
Job = Callable[[], Awaitable[None]]


class DeploymentError(Exception):
    """The deployment refused or could not be reached; the message is one error line."""


@dataclass(frozen=True, slots=True)
class Prepared:
    residents: int
    enrolled: int
    accounts_made: int
    sites: int
    seconds: float


def failure_line(what: str, e: StepError) -> str:
    """One line for a failed step, with the remedy for the usual cause."""
    status = f" (HTTP {e.status})" if e.status else ""
    detail = f": {e.detail}" if e.detail else ""
    line = f"{what}: {short_type(e.type)} at {e.step}{status}{detail}"
    if short_type(e.type) == "rate-limited":
        line += (
            " -- exempt the load generator's address on the deployment"
            " (REALDID_RATE_LIMITS__EXEMPT, docs/load.md)"
        )
    return line


async def prepare_pool(
    state: PoolState,
    state_path: Path,
    applicants: list[Applicant],
    site_urls: list[str],
    *,
    pool_size: int,
    concurrency: int,
    min_validity: float,
    timeout: float,
    poll_interval: float,
    anchor_timeout: float,
    show_progress: bool,
    acknowledged: str | None = None,
) -> Prepared:
    """Bring ``state`` to ``pool_size`` residents with a fresh site account at every site;
    what the deployment acknowledged is appended to ``acknowledged`` (:mod:`.acklog`)."""
    started = time.monotonic()
    log = AckLog(acknowledged)
    limits = httpx.Limits(max_connections=concurrency + 4, keepalive_expiry=4.0)
    async with httpx.AsyncClient(
        timeout=timeout, transport=httpx.AsyncHTTPTransport(retries=0, limits=limits)
    ) as client:
        dep = Deployment(
            client,
            state.node,
            state.authority,
            poll_interval=poll_interval,
            anchor_timeout=anchor_timeout,
            acknowledged=log,
        )
        try:
            await dep.setup_authority()
        except StepError as e:
            raise DeploymentError(failure_line("the authority's metadata", e)) from None
        sites = await _discover(dep, state, site_urls)

        pooled = state.pooled_rows()
        free = [a for a in applicants if a.row not in pooled]
        wanted = max(0, pool_size - len(state.residents))
        if wanted > len(free):
            raise SpecError(
                f"--pool {pool_size}: the residents file holds only {len(free)} more residents"
                f" than the {len(state.residents)} pooled (it has {len(applicants)} rows)"
            )
        by_row = {a.row: a for a in applicants}
        now = time.time()
        made = {"enrolled": 0, "accounts": 0}

        async def new_resident(applicant: Applicant) -> None:
            resident = await _enroll_new(dep, applicant, sites)
            state.residents.append(resident)
            made["enrolled"] += 1
            made["accounts"] += len(sites)

        async def renew(resident: PooledResident, missing: list[SiteInfo]) -> None:
            for site in missing:
                resident.sites[site.url] = await _site_account(dep, resident, site)
                made["accounts"] += 1

        tasks: list[tuple[str, Job]] = []
        for resident in state.residents:
            if resident.row not in by_row:
                raise SpecError(
                    f"the state file names row {resident.row}, which the residents file lacks"
                )
            missing = [
                s
                for s in sites
                if (a := resident.sites.get(s.url)) is None or a.expires_at < now + min_validity
            ]
            if missing:
                tasks.append(
                    (f"site proofs for pooled row {resident.row}", _bind(renew, resident, missing))
                )
        for applicant in free[:wanted]:
            tasks.append((f"enrolling row {applicant.row}", _bind(new_resident, applicant)))

        try:
            await _run_jobs(tasks, concurrency, state, state_path, show_progress)
        finally:
            log.close()
    return Prepared(
        len(state.residents), made["enrolled"], made["accounts"], len(sites),
        time.monotonic() - started,
    )  # fmt: skip


def _bind(function: Callable[..., Awaitable[None]], *args: object) -> Job:
    return lambda: function(*args)


async def _discover(dep: Deployment, state: PoolState, site_urls: list[str]) -> list[SiteInfo]:
    """Each site's DID and query, from one login request; a site that now signs as
    another DID loses the accounts made for the old one."""
    sites = []
    for url in site_urls:
        try:
            site = await dep.discover(url)
        except StepError as e:
            if e.step == "login-page" and e.status == 404:
                raise DeploymentError(
                    f"the site {url} has no {LOGIN_PATH} page (HTTP 404): give a relying party"
                    " that starts logins there, like the demo forum"
                ) from None
            raise DeploymentError(failure_line(f"the site {url}", e)) from None
        if site.credential_type != CredentialType.SITE_PROOF:
            raise SpecError(
                f"--site {url} asks for a {site.credential_type} credential: the load"
                " generator logs in with site proofs only (SiteProof sites such as the forum)"
            )
        known = state.sites.get(url)
        if known is not None and known.rp_did != site.rp_did:
            for resident in state.residents:
                resident.sites.pop(url, None)
        state.sites[url] = site
        sites.append(site)
    return sites


async def _enroll_new(
    dep: Deployment, applicant: Applicant, sites: list[SiteInfo]
) -> PooledResident:
    """A root DID and a DID per site, anchored together; enrollment; a site proof each."""
    seed = new_seed()
    root = create_operation(seed, root_base())
    creates = [root, *(create_operation(seed, site_base(s.rp_did)) for s in sites)]
    timer = Timer()
    hashes = await dep.submit([to_dict(c) for c in creates], "did-submit")
    await dep.wait_anchored(hashes, "did-anchor")
    root_did = str(root.did)
    await dep.enroll_root(applicant, seed, root_did, timer)
    resident = PooledResident(applicant.row, seed.hex(), root_did, previous=hashes[0])
    for site in sites:
        resident.sites[site.url] = await dep.site_proof(seed, root_did, site, timer)
    return resident


async def _site_account(dep: Deployment, resident: PooledResident, site: SiteInfo) -> SiteAccount:
    """A (new or renewed) site proof for a pooled resident's DID for ``site``."""
    seed = resident.seed_bytes
    create = create_operation(seed, site_base(site.rp_did))
    did = str(create.did)
    found = await dep.call("GET", f"{dep.node}/1.0/identifiers/{did}", "resolve", (200, 404))
    if found.status_code == 404:
        hashes = await dep.submit([to_dict(create)], "did-submit")
        await dep.wait_anchored(hashes, "did-anchor")
    return await dep.site_proof(seed, resident.root_did, site, Timer())


async def _run_jobs(
    tasks: list[tuple[str, Job]],
    concurrency: int,
    state: PoolState,
    state_path: Path,
    show_progress: bool,
) -> None:
    """Run the jobs ``concurrency`` at a time; on the first failure finish the running ones,
    start no more, save what was done and raise :class:`DeploymentError`."""
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("preparing"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not (show_progress and console.is_terminal),
    )
    pending = list(reversed(tasks))
    failure: list[str] = []
    done = 0

    async def worker() -> None:
        nonlocal done
        while pending and not failure:
            what, job = pending.pop()
            try:
                await job()
            except StepError as e:
                failure.append(failure_line(f"prepare: {what}", e))
                return
            done += 1
            progress.update(task, completed=done)
            if done % SAVE_EVERY == 0:
                save_state(state_path, state)

    with progress:
        task = progress.add_task("pool", total=len(tasks))
        try:
            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
        finally:
            save_state(state_path, state)
    if failure:
        raise DeploymentError(failure[0])
