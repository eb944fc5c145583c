"""The redemption engine: redemptions that arrive together commit together.

Invariant: a voucher is never redeemed past ``max_redemptions`` (nor a customer
past ``per_customer_limit``), and no 201 is sent before its row is durable.

How a group keeps it, with any number of processes and servers:

1. One transaction per group. On PostgreSQL the vouchers involved are locked
   with ``SELECT ... FOR UPDATE`` in id order (so two groups never deadlock);
   on SQLite ``BEGIN IMMEDIATE`` has already made this the only writer. Either
   way the counts read next cannot change until we commit.
2. Each request is decided in arrival order against those locked counts,
   which move in memory as the group is decided.
3. Counters are written once per voucher, ledger rows in one statement, and
   idempotent answers beside them; then one commit (one flush) for the group.
4. Only after the commit returns is any member answered. If anything fails,
   the transaction rolls back and every member gets 503: nothing applied.

The database's locks decide, not this process's memory: a second worker or
server runs its own groups and waits on the same row locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from vouchers import clock
from vouchers.db import Database, is_unavailable
from vouchers.errors import (
    IdempotencyKeyReused,
    ServiceError,
    ServiceUnavailable,
    VoucherNotFound,
)
from vouchers.metrics import GROUP_SIZE, REDEMPTIONS, REJECTIONS
from vouchers.redemptions import repository
from vouchers.redemptions.decision import decide, state_of
from vouchers.redemptions.idempotency import (
    Answer,
    IdempotencyClaim,
    encode_json,
    error_answer,
    in_progress_answer,
    replay_or_reject,
    stored_row,
)
from vouchers.redemptions.schemas import RedemptionRequest
from vouchers.timestamps import format_timestamp

logger = logging.getLogger(__name__)

KEY_REUSED = IdempotencyKeyReused(
    "This Idempotency-Key was used for a different request; use a new key."
)


@dataclass(frozen=True)
class RedeemCommand:
    """One redemption request, as the engine receives it."""

    code: str
    key: str
    request: RedemptionRequest
    claim: IdempotencyClaim | None
    request_id: str


def new_redemption_id() -> str:
    """An opaque, unguessable redemption id (80 random bits)."""
    return "rdm_" + secrets.token_hex(10)


async def apply_group(
    connection: AsyncConnection, commands: list[RedeemCommand], now: datetime
) -> list[Answer]:
    """Decide and write a group of redemptions inside the caller's transaction."""
    answers: list[Answer | None] = [None] * len(commands)
    leaders: dict[str, int] = {}
    followers: list[int] = []

    claims = [command.claim.key for command in commands if command.claim is not None]
    if claims:
        locked = await repository.try_lock_keys(connection, claims)
        stored = await repository.stored_responses(connection, claims)
        for index, command in enumerate(commands):
            claim = command.claim
            if claim is None:
                continue
            if claim.key not in locked:
                answers[index] = in_progress_answer(command.request_id)
            elif claim.key in stored:
                answers[index] = replay_or_reject(stored[claim.key], claim, command.request_id)
            elif claim.key in leaders:
                followers.append(index)
            else:
                leaders[claim.key] = index

    following = set(followers)
    live = [i for i, answer in enumerate(answers) if answer is None and i not in following]
    rows = await repository.lock_vouchers(connection, [commands[i].key for i in live])
    states = {row.code_key: state_of(row) for row in rows}
    pairs = sorted(
        {
            (states[commands[i].key].id, commands[i].request.customer_id or "")
            for i in live
            if commands[i].key in states and commands[i].request.customer_id is not None
        }
    )
    customer_used = await repository.customer_counts(connection, pairs)

    ledger_rows: list[dict[str, Any]] = []
    created_at = format_timestamp(now)
    touched: dict[int, int] = {}
    touched_customers: dict[tuple[int, str], int] = {}
    for index in live:
        command = commands[index]
        state = states.get(command.key)
        try:
            if state is None:
                raise VoucherNotFound(f"No voucher has the code {command.code}.")
            customer = command.request.customer_id
            pair = (state.id, customer) if customer is not None else None
            used = customer_used.get(pair, 0) if pair is not None else 0
            granted = decide(state, used, command.request, now)
        except ServiceError as error:
            answers[index] = error_answer(error, command.request_id)
            continue
        state.redeemed += granted
        touched[state.id] = state.redeemed
        if pair is not None:
            customer_used[pair] = used + granted
            touched_customers[pair] = used + granted
        redemption_id = new_redemption_id()
        ledger_rows.append(
            {
                "id": redemption_id,
                "voucher_id": state.id,
                "quantity": granted,
                "customer_id": customer,
                "remaining": state.remaining,
                "metadata": command.request.metadata,
                "created_at": now,
                "reversed_at": None,
            }
        )
        # The RedemptionRead shape, encoded directly: this runs once per redemption.
        redemption = {
            "id": redemption_id,
            "code": state.code,
            "quantity": granted,
            "customer_id": customer,
            "remaining": state.remaining,
            "metadata": command.request.metadata,
            "created_at": created_at,
            "reversed_at": None,
        }
        answers[index] = Answer(201, encode_json(redemption))

    for index in followers:
        command = commands[index]
        assert command.claim is not None
        leader_answer = answers[leaders[command.claim.key]]
        assert leader_answer is not None
        leader_claim = commands[leaders[command.claim.key]].claim
        assert leader_claim is not None
        if leader_claim.fingerprint != command.claim.fingerprint:
            answers[index] = error_answer(KEY_REUSED, command.request_id)
        elif leader_answer.storable:
            answers[index] = leader_answer.as_replay()
        else:
            answers[index] = leader_answer

    await repository.write_group(connection, touched, ledger_rows, now)
    await repository.write_customer_counts(connection, touched_customers)
    stored_rows = []
    for key, index in leaders.items():
        answer = answers[index]
        claim = commands[index].claim
        assert answer is not None and claim is not None and claim.key == key
        if answer.storable:
            stored_rows.append(stored_row(claim, answer, now))
    await repository.store_responses(connection, stored_rows)
    return [answer for answer in answers if answer is not None]


async def run_group(database: Database, commands: list[RedeemCommand]) -> tuple[list[Answer], bool]:
    """Apply a group in its own transaction; on any database failure every member gets 503.

    Returns the answers, and whether the group failed because the database
    could not be reached.
    """
    try:
        async with database.transaction() as connection:
            return await apply_group(connection, commands, clock.now()), False
    except Exception as error:
        # Whatever failed, the transaction rolled back: nothing of the group was
        # applied, so every member may safely retry (in another group).
        unavailable = is_unavailable(error)
        if unavailable:
            logger.warning("redemption group of %d failed: %s", len(commands), type(error).__name__)
        else:
            logger.exception("redemption group of %d failed", len(commands))
        failure = ServiceUnavailable(
            "The redemption could not be committed; nothing was redeemed. Retry."
        )
        return [error_answer(failure, command.request_id) for command in commands], unavailable


def observe_group(answers: list[Answer]) -> None:
    """Record a committed group's size, successes and refusals."""
    GROUP_SIZE.observe(len(answers))
    for answer in answers:
        if answer.status == 201 and not answer.replayed:
            REDEMPTIONS.inc()
        elif answer.error is not None:
            REJECTIONS.labels(answer.error.code).inc()


@dataclass
class _Pending:
    command: RedeemCommand
    future: asyncio.Future[Answer]


class RedemptionEngine:
    """Collects concurrent redemptions into groups and commits each group once.

    There is no timer: a consumer takes whatever has queued up while the
    previous group was committing (at low load, a group of one), up to
    ``max_group``. ``consumers`` groups may be in flight at once; the queue is
    bounded, so a slow database pushes back on callers instead of growing
    memory. ``close()`` refuses new work, finishes what is queued, then stops.
    """

    def __init__(
        self,
        database: Database,
        *,
        max_group: int = 256,
        consumers: int = 1,
        max_queue: int = 10_000,
        enabled: bool = True,
    ) -> None:
        self.database = database
        self.max_group = max_group
        self.enabled = enabled
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=max_queue)
        self._consumer_count = consumers
        self._consumers: list[asyncio.Task[None]] = []
        self._closing = False
        self.groups_committed = 0
        self.largest_group = 0

    def start(self) -> None:
        """Start the consumer tasks (call from the running event loop)."""
        if self.enabled and not self._consumers:
            self._consumers = [
                asyncio.create_task(self._consume(), name=f"redemption-consumer-{n}")
                for n in range(self._consumer_count)
            ]

    async def submit(self, command: RedeemCommand) -> Answer:
        """Redeem: wait for the group containing this command to commit, then answer."""
        if self._closing:
            return error_answer(
                ServiceUnavailable("The server is shutting down; retry on another server."),
                command.request_id,
            )
        if not self.enabled:
            answers, _ = await run_group(self.database, [command])
            observe_group(answers)
            return answers[0]
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(command, future))
        # Shield: a client that disconnects must not cancel a group others share.
        return await asyncio.shield(future)

    async def _consume(self) -> None:
        while True:
            first = await self._queue.get()
            group = [first]
            while len(group) < self.max_group and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                answers, unavailable = await run_group(
                    self.database, [pending.command for pending in group]
                )
            except BaseException as error:  # cancelled mid-group: never leave callers hanging
                stopping = ServiceUnavailable("The server is shutting down; retry.")
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_result(
                            error_answer(stopping, pending.command.request_id)
                        )
                    self._queue.task_done()
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            self.groups_committed += 1
            self.largest_group = max(self.largest_group, len(group))
            observe_group(answers)
            for pending, answer in zip(group, answers, strict=True):
                if not pending.future.done():
                    pending.future.set_result(answer)
                self._queue.task_done()
            if unavailable:
                self._fail_queued()

    def _fail_queued(self) -> None:
        """Answer 503 to everything queued behind a group the database could not take.

        They arrived while that group waited out the database timeout; trying
        them now would make each wait out a timeout of its own before its 503.
        Nothing of theirs was applied, so a retry is safe.
        """
        failure = ServiceUnavailable("The database cannot be reached; nothing was redeemed. Retry.")
        answers = []
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            answer = error_answer(failure, pending.command.request_id)
            answers.append(answer)
            if not pending.future.done():
                pending.future.set_result(answer)
            self._queue.task_done()
        if answers:
            observe_group(answers)

    async def close(self) -> None:
        """Refuse new redemptions, finish the queued ones, stop the consumers."""
        self._closing = True
        if self._consumers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._queue.join(), timeout=30)
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._consumers = []
