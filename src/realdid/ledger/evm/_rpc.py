"""The JSON-RPC transport to the EVM node: one retry policy, with injected waiting.

The evm backend's JSON-RPC calls go through :meth:`RetryingRpc.call`, which retries failures
of the *transport* (connection refused or reset, read timeout, HTTP 5xx, rate limiting) with
exponential backoff until ``retry_timeout`` has passed, then raises
:class:`~realdid.ledger.LedgerUnavailableError`. Errors the node *answers* with are never
retried here: they are the caller's to interpret. (Receipt polling handles transport
failures itself, within its own timeout: see :mod:`._transactions`.)

The backoff sleeps and deadlines use an injected :class:`~realdid.clock.Timer`, so that a
test can drive them on a :class:`~realdid.clock.FakeTimer` over an in-memory web3 provider,
without sleeping::

    rpc = RetryingRpc.over_http(url, request_timeout=10.0, retry_timeout=30.0,
                                timer=SystemTimer())
    head = rpc.call("eth_blockNumber", lambda: rpc.w3.eth.block_number)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

import requests
from web3 import Web3
from web3.exceptions import (
    ProviderConnectionError,
    RequestTimedOut,
    TooManyRequests,
    Web3RPCError,
)
from web3.providers.base import BaseProvider

from realdid.clock import Timer
from realdid.ledger._interface import LedgerUnavailableError

__all__ = ["TRANSIENT", "RetryingRpc", "rpc_error"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Failures of the transport, never of the request: retried with backoff. ``requests``
# exceptions (connection refused, reset, read timeout, HTTP 5xx) are OSError subclasses.
TRANSIENT: Final = (OSError, ProviderConnectionError, RequestTimedOut, TooManyRequests)
# First backoff sleep and its cap; the sleep doubles after every failed attempt.
_FIRST_DELAY: Final = 0.05
_MAX_DELAY: Final = 2.0


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
        timer: Timer,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url
        self.w3 = Web3(provider)
        self._retry_timeout = retry_timeout
        self._timer = timer
        self._session = session

    @classmethod
    def over_http(
        cls, url: str, *, request_timeout: float, retry_timeout: float, timer: Timer
    ) -> RetryingRpc:
        """The connection to a JSON-RPC endpoint over HTTP, with its own session."""
        session = requests.Session()
        provider = Web3.HTTPProvider(
            url,
            request_kwargs={"timeout": request_timeout},
            session=session,
            exception_retry_configuration=None,
        )
        return cls(url, provider, retry_timeout=retry_timeout, timer=timer, session=session)

    def call(self, what: str, fn: Callable[[], _T]) -> _T:
        deadline = self._timer.monotonic() + self._retry_timeout
        delay = _FIRST_DELAY
        while True:
            try:
                return fn()
            except TRANSIENT as e:
                if self._timer.monotonic() + delay > deadline:
                    raise LedgerUnavailableError(
                        f"EVM node {self.url} unavailable ({what}): {type(e).__name__}: {e}"
                    ) from e
                log.debug("EVM node %s: %s failed (%s); retrying", self.url, what, e)
                self._timer.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
