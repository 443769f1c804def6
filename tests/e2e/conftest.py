"""End-to-end runs on the run's engine: on ``REALDID_TEST_ENGINE=postgresql`` every
``realdid`` process a module starts — the platform and the CLI commands on its data —
finds its stores in one fresh PostgreSQL database of the module's own, through
``REALDID_NODE__DATABASE`` (``tests/service_databases.py``). Each module runs one platform.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ..service_databases import ServiceDatabases


@pytest.fixture(scope="module", autouse=True)
def _platform_database(
    service_databases: ServiceDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    url = service_databases.url(tmp_path_factory.mktemp("platform-database"))
    if url is None:
        yield
        return
    previous = os.environ.get("REALDID_NODE__DATABASE")
    os.environ["REALDID_NODE__DATABASE"] = url
    try:
        yield
    finally:
        if previous is None:
            del os.environ["REALDID_NODE__DATABASE"]
        else:
            os.environ["REALDID_NODE__DATABASE"] = previous
