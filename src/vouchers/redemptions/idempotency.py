"""Idempotency keys: one stored answer per key, written with the effect it describes.

A state-changing POST with an ``Idempotency-Key`` runs inside one transaction
that (1) takes a lock on the key, (2) looks for a stored answer, (3) performs
the effect, and (4) stores the answer before committing. A retry therefore sees
either nothing (the first attempt rolled back, so it runs afresh) or the stored
answer (the first attempt committed, so it is replayed): never half of one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.db import Database
from vouchers.errors import IdempotencyInProgress, IdempotencyKeyReused, ServiceError
from vouchers.redemptions import repository

logger = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 3600.0
KEY_PATTERN = re.compile(r"^[\x20-\x7e]{1,255}$")
KEEP_FOR = timedelta(hours=24)
STORED_STATUSES = frozenset({200, 201, 202, 204, 404, 409})


@dataclass(frozen=True)
class Answer:
    """A response ready to send: status, JSON body, and whether it was replayed."""

    status: int
    body: bytes
    replayed: bool = False
    error: ServiceError | None = field(default=None, compare=False)

    @property
    def storable(self) -> bool:
        """Successes and business rejections are stored; 422, 429 and 5xx are not."""
        return self.status in STORED_STATUSES

    def as_replay(self) -> Answer:
        """The same answer, marked as a replay."""
        return Answer(self.status, self.body, replayed=True, error=self.error)


@dataclass(frozen=True)
class IdempotencyClaim:
    """A request's key and the fingerprint of the request it names."""

    key: str
    fingerprint: str


def fingerprint(method: str, path: str, body: Any) -> str:
    """Hash of method, path (case-insensitive) and the JSON-equal body."""
    canonical = json.dumps(
        [method.upper(), path.upper(), body], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def error_answer(error: ServiceError, request_id: str) -> Answer:
    """The answer for a domain error."""
    return Answer(error.status, encode_json(error.body(request_id)), error=error)


def encode_json(document: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def replay_or_reject(stored: Row[Any], claim: IdempotencyClaim, request_id: str) -> Answer:
    """The stored answer for a matching request, or 422 for a different one."""
    if stored.fingerprint != claim.fingerprint:
        return error_answer(
            IdempotencyKeyReused(
                "This Idempotency-Key was used for a different request; use a new key."
            ),
            request_id,
        )
    return Answer(stored.status_code, stored.response, replayed=True)


def in_progress_answer(request_id: str) -> Answer:
    """409 for a key whose first request is still running elsewhere."""
    return error_answer(
        IdempotencyInProgress("A request with this Idempotency-Key is still running; retry."),
        request_id,
    )


def stored_row(claim: IdempotencyClaim, answer: Answer, now: datetime) -> dict[str, Any]:
    """The row that stores an answer under its key."""
    return {
        "key": claim.key,
        "fingerprint": claim.fingerprint,
        "status_code": answer.status,
        "response": answer.body,
        "created_at": now,
    }


async def run_idempotent(
    connection: AsyncConnection,
    claim: IdempotencyClaim | None,
    request_id: str,
    now: datetime,
    effect: Callable[[AsyncConnection], Awaitable[Answer]],
) -> Answer:
    """Run ``effect`` once per key inside the caller's transaction, storing its answer.

    Domain errors with a storable status (404, 409) become stored answers;
    the effect must raise them before it writes anything.
    """
    if claim is None:
        return await effect(connection)
    if claim.key not in await repository.try_lock_keys(connection, [claim.key]):
        return in_progress_answer(request_id)
    stored = (await repository.stored_responses(connection, [claim.key])).get(claim.key)
    if stored is not None:
        return replay_or_reject(stored, claim, request_id)
    try:
        answer = await effect(connection)
    except ServiceError as error:
        answer = error_answer(error, request_id)
        if not answer.storable:
            raise
    if answer.storable:
        await repository.store_responses(connection, [stored_row(claim, answer, now)])
    return answer


async def purge_idempotency_keys(database: Database, every: float = PURGE_EVERY_SECONDS) -> None:
    """Forever: forget keys older than 24 hours, once at start and then every ``every`` seconds."""
    while True:
        try:
            async with database.transaction() as connection:
                purged = await repository.purge_responses(connection, clock.now() - KEEP_FOR)
            if purged:
                logger.info("purged %d idempotency keys older than %s", purged, KEEP_FOR)
        except Exception as error:  # the next round tries again
            logger.warning("idempotency purge failed: %s", type(error).__name__)
        await asyncio.sleep(every)
