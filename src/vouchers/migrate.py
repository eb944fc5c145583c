"""Run the Alembic migrations shipped inside the package."""

from __future__ import annotations

import contextlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def ensure_sqlite_directory(database_url: str) -> None:
    """Create the folder of a SQLite file, so a fresh checkout needs no set-up."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        # A folder that cannot be made is reported by the database itself when it is opened.
        with contextlib.suppress(OSError):
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def upgrade(database_url: str) -> None:
    """Bring the database schema to the newest revision (safe to run concurrently)."""
    ensure_sqlite_directory(database_url)
    command.upgrade(alembic_config(database_url), "head")
