"""Intake reads an operation's outcome, then its DID's state: a resend whose operation the
observer applies between the two reads is "already processed", not "stale-previous"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from realdid.did import ParsedOperation
from realdid.node import NodeConfig, RegistryNode, create_app
from realdid.node._intake import IntakeRefusedError, precheck_all

from .test_api import Controller, TestClient, apply


def test_an_operation_applied_between_the_two_reads_is_already_processed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = RegistryNode(NodeConfig(data_dir=tmp_path / "node", batch_interval=0.05))
    with TestClient(create_app(node)) as client:
        alice = Controller()
        apply(client, alice.create)
        update = alice.update()
        apply(client, update)
        parsed = ParsedOperation.from_value(update)
        real = node.store.outcomes
        calls: list[int] = []

        def first_read_before_the_anchor(hashes: Any) -> Any:
            calls.append(1)
            return {} if len(calls) == 1 else real(hashes)  # the first read raced the observer

        monkeypatch.setattr(node.store, "outcomes", first_read_before_the_anchor)
        with pytest.raises(IntakeRefusedError) as refused:
            precheck_all([parsed], node.store)
        assert refused.value.code == "operation-already-processed"
        assert len(calls) == 2
        # An operation that is really stale is still refused as stale.
        stale = Controller()
        apply(client, stale.create)
        old = stale.update(advance=False)
        apply(client, stale.update())
        with pytest.raises(IntakeRefusedError) as refused:
            precheck_all([ParsedOperation.from_value(old)], node.store)
        assert refused.value.code == "stale-previous"
