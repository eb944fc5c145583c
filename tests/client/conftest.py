"""Fixtures of the client tests: VoucherClients that are closed after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import ADMIN_KEY, Server
from vouchers.client import VoucherClient

MakeClient = Callable[..., VoucherClient]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Make clients (quick back-off unless told otherwise); all are closed afterwards."""
    made: list[VoucherClient] = []

    def make(base_url: str, api_key: str | None = None, **options: Any) -> VoucherClient:
        options.setdefault("backoff", 0.05)
        made.append(VoucherClient(base_url, api_key, **options))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(server: Server, make_client: MakeClient) -> VoucherClient:
    """An admin client of the shared server."""
    return make_client(server.url, ADMIN_KEY)
