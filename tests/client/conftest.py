"""Fixtures of the client tests: a VoucherClient of the shared server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ADMIN_KEY, Server
from vouchers.client import VoucherClient


@pytest.fixture
def client(server: Server) -> Iterator[VoucherClient]:
    """An admin client of the shared server, with quick retries."""
    with VoucherClient(server.url, ADMIN_KEY, backoff=0.05) as admin:
        yield admin
