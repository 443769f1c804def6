"""The JSON-RPC transport to the EVM node: one retry policy, with injected waiting.

Every call of the evm backend goes through :meth:`RetryingRpc.call`, which retries failures
of the *transport* (connection refused or reset, read timeout, HTTP 5xx, rate limiting) with
exponential backoff until ``retry_timeout`` has passed, then raises
:class:`~realdid.ledger.LedgerUnavailableError`. Errors the node *answers* with are never
retried here: they are the caller's to interpret.

The backoff sleeps and deadlines use a :class:`WaitClock`, so that a test can drive them on
a fake clock (and an in-memory web3 provider) without sleeping::

    rpc = RetryingRpc.over_http(url, request_timeout=10.0, retry_timeout=30.0,
                                wait_clock=SystemWaitClock())
    head = rpc.call("eth_blockNumber", lambda: rpc.w3.eth.block_number)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Final, Protocol, TypeVar

import requests
from web3 import Web3
from web3.exceptions import (
    ProviderConnectionError,
    RequestTimedOut,
    TooManyRequests,
    Web3RPCError,
)
from web3.providers.base import BaseProvider

from realdid.ledger._interface import LedgerUnavailableError

__all__ = ["TRANSIENT", "RetryingRpc", "SystemWaitClock", "WaitClock", "rpc_error"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Failures of the transport, never of the request: retried with backoff. ``requests``
# exceptions (connection refused, reset, read timeout, HTTP 5xx) are OSError subclasses.
TRANSIENT: Final = (OSError, ProviderConnectionError, RequestTimedOut, TooManyRequests)
# First backoff sleep and its cap; the sleep doubles after every failed attempt.
_FIRST_DELAY: Final = 0.05
_MAX_DELAY: Final = 2.0


class WaitClock(Protocol):
    """Monotonic time and sleeping: the seam of every wait of the evm backend (retry
    backoff, receipt polling), injected so that tests drive the waits without sleeping."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (only differences are meaningful)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        ...


class SystemWaitClock:
    """The real :class:`WaitClock`: :func:`time.monotonic` and :func:`time.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def rpc_error(e: Web3RPCError) -> tuple[int | None, str]:
    """``(code, message)`` of a JSON-RPC error response."""
    response = e.rpc_response
    error = response.get("error") if response else None
    if isinstance(error, Mapping):
        code = error.get("code")
        return (code if isinstance(code, int) else None), str(error.get("message", ""))
    return None, str(e.message)


class RetryingRpc:
    """A web3 connection whose calls are retried with backoff on transport failures.

    web3's own retries are disabled (:meth:`over_http`) so that there is one retry policy,
    bounded by ``retry_timeout``, after which :class:`LedgerUnavailableError` is raised.
    ``url`` names the node in error messages.
    """

    def __init__(
        self,
        url: str,
        provider: BaseProvider,
        *,
        retry_timeout: float,
        wait_clock: WaitClock,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url
        self.w3 = Web3(provider)
        self._retry_timeout = retry_timeout
        self._wait_clock = wait_clock
        self._session = session

    @classmethod
    def over_http(
        cls, url: str, *, request_timeout: float, retry_timeout: float, wait_clock: WaitClock
    ) -> RetryingRpc:
        """The connection to a JSON-RPC endpoint over HTTP, with its own session."""
        session = requests.Session()
        provider = Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": request_timeout},
            session=session,
            exception_retry_configuration=None,
        )
        return cls(
            url, provider, retry_timeout=retry_timeout, wait_clock=wait_clock, session=session
        )

    def call(self, what: str, fn: Callable[[], _T]) -> _T:
        deadline = self._wait_clock.monotonic() + self._retry_timeout
        delay = _FIRST_DELAY
        while True:
            try:
                return fn()
            except TRANSIENT as e:
                if self._wait_clock.monotonic() + delay > deadline:
                    raise LedgerUnavailableError(
                        f"EVM node {self.url} unavailable ({what}): {type(e).__name__}: {e}"
                    ) from e
                log.debug("EVM node %s: %s failed (%s); retrying", self.url, what, e)
                self._wait_clock.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
