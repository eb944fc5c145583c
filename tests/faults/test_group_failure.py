"""A group commit that fails answers every member 503 and applies none of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from vouchers import migrate
from vouchers.codes import code_key
from vouchers.db import Database, create_engine
from vouchers.redemptions.engine import RedeemCommand, RedemptionEngine
from vouchers.redemptions.idempotency import IdempotencyClaim
from vouchers.redemptions.schemas import RedemptionRequest
from vouchers.vouchers.schemas import VoucherCreate
from vouchers.vouchers.service import create_voucher

POISON = {"fail": True}

# Makes the transaction fail when a ledger row carries the poison metadata: at
# COMMIT on PostgreSQL (a deferred constraint trigger), at the INSERT on SQLite.
POSTGRES_TRIGGER = [
    """CREATE FUNCTION fail_poisoned() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.metadata::text LIKE '%"fail"%' THEN RAISE EXCEPTION 'poisoned group'; END IF;
         RETURN NEW;
       END $$""",
    """CREATE CONSTRAINT TRIGGER fail_poisoned AFTER INSERT ON redemptions
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_poisoned()""",
]
SQLITE_TRIGGER = [
    """CREATE TRIGGER fail_poisoned BEFORE INSERT ON redemptions
       WHEN NEW.metadata LIKE '%"fail"%' BEGIN SELECT RAISE(ABORT, 'poisoned group'); END""",
]


def _command(code: str, n: int, metadata: dict[str, object] | None = None) -> RedeemCommand:
    return RedeemCommand(
        code=code,
        key=code_key(code),
        request=RedemptionRequest(quantity=1, metadata=metadata or {}),
        claim=IdempotencyClaim(f"group-{n}", f"fingerprint-{n}"),
        request_id=f"req_{n}",
    )


async def _run(url: str) -> None:
    from zoneinfo import ZoneInfo

    await asyncio.to_thread(migrate.upgrade, url)
    database = Database(create_engine(url, pool_size=2))
    statements = SQLITE_TRIGGER if database.is_sqlite else POSTGRES_TRIGGER
    async with database.transaction() as connection:
        for statement in statements:
            await connection.execute(text(statement))
        body = VoucherCreate.model_validate(
            {"code": "GROUP-1", "max_redemptions": 100, "expires_at": "2099-01-01"}
        )
        await create_voucher(connection, body, ZoneInfo("UTC"))

    engine = RedemptionEngine(database, max_group=64)
    engine.start()
    # Queue the whole group before the consumer runs, so it commits as one.
    commands = [_command("GROUP-1", n) for n in range(9)] + [_command("GROUP-1", 9, POISON)]
    answers = await asyncio.gather(*(engine.submit(command) for command in commands))
    assert engine.largest_group == len(commands), "the members formed one group"
    assert [answer.status for answer in answers] == [503] * len(commands)
    assert all(answer.error and answer.error.code == "service_unavailable" for answer in answers)

    async with database.read() as connection:
        redeemed = (
            await connection.execute(text("SELECT redeemed FROM vouchers WHERE code = 'GROUP-1'"))
        ).scalar()
        ledger = (await connection.execute(text("SELECT COUNT(*) FROM redemptions"))).scalar()
        keys = (await connection.execute(text("SELECT COUNT(*) FROM idempotency_keys"))).scalar()
    assert (redeemed, ledger, keys) == (0, 0, 0), "nothing of the failed group was applied"

    # The same members without the poison succeed: the failure was the group's, not theirs.
    retried = await asyncio.gather(*(engine.submit(command) for command in commands[:9]))
    assert [answer.status for answer in retried] == [201] * 9
    await engine.close()
    await database.dispose()


def test_failed_group_commit_answers_every_member_503(fresh_db: str, tmp_path: Path) -> None:
    asyncio.run(_run(fresh_db))
