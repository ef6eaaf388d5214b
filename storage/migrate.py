"""Schema migrations (Alembic), driven from code so no alembic.ini is needed in the working dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def schema_status(engine: AsyncEngine) -> dict[str, Any]:
    """What /healthz and `serve` report: the revision in the database against the code's head."""
    current, head = await current_revision(engine), head_revision()
    return {"current": current, "head": head, "up_to_date": current == head}


class SchemaBehind(RuntimeError):
    pass


async def require_current_schema(engine: AsyncEngine) -> None:
    status = await schema_status(engine)
    if not status["up_to_date"]:
        raise SchemaBehind(
            f"the database schema is at {status['current'] or 'nothing (empty database)'}, "
            f"the code needs {status['head']}: run `panelbot db upgrade`"
        )
