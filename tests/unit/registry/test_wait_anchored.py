"""NodeClient.wait_anchored polls on the injected Timer: its deadline and pace, no real sleep."""

from __future__ import annotations

import time

import httpx
import pytest

from realdid.clock import FakeTimer
from realdid.registry import NodeClient, NodeClientError


def node(statuses: list[str]) -> tuple[NodeClient, FakeTimer, list[str]]:
    """A client of a node that answers ``statuses`` in turn (then the last one forever)."""
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        status = statuses[min(len(asked), len(statuses)) - 1]
        return httpx.Response(200, json={"operationHash": "op", "status": status})

    timer = FakeTimer()
    client = NodeClient("http://node.test", transport=httpx.MockTransport(handler), timer=timer)
    return client, timer, asked


def test_times_out_on_the_fake_timer_without_sleeping() -> None:
    client, timer, asked = node(["pending"])
    started = time.monotonic()
    with pytest.raises(NodeClientError) as raised:
        client.wait_anchored("op", timeout=5.0, interval=0.5)
    client.close()
    assert raised.value.code == "timeout"
    assert time.monotonic() - started < 2.0  # 5 s of polling took no real time
    # Still polls at the deadline itself; gives up on the first look past it.
    assert timer.sleeps == [0.5] * 11
    assert timer.monotonic() == 5.5
    assert len(asked) == 12


def test_returns_once_anchored_after_the_sleeps_it_needed() -> None:
    client, timer, asked = node(["pending", "pending", "anchored"])
    status = client.wait_anchored("op", timeout=60.0, interval=0.25)
    client.close()
    assert status["status"] == "anchored"
    assert timer.sleeps == [0.25, 0.25]
    assert asked == ["/1.0/operations/op"] * 3
