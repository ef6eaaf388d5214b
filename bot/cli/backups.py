"""`panelbot backup PATH` and `panelbot restore PATH`: the case store to a file and back ($PANELBOT_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import err, fail, out, settings

if TYPE_CHECKING:  # storage.backup loads SQLAlchemy: imported by the commands that use it
    from storage.backup import Outcome

ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite what is there.")]


def _report(outcome: Outcome) -> None:
    if outcome.done:
        out.print(outcome.detail, highlight=False)
        return
    err.print(outcome.detail, highlight=False, markup=False)
    out.print(shlex.join(outcome.command or []), highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(1)


def backup_cmd(
    path: Annotated[Path, typer.Argument(help="The backup file to write.")],
    force: ForceOpt = False,
) -> None:
    """Back up the case store while panelbot runs: SQLite's online backup API, or pg_dump on PostgreSQL
    (when pg_dump is not installed, prints the command to run). Exit 0 done, 1 not done."""
    from storage.backup import BackupError
    from storage.backup import backup as backup_store

    try:
        _report(backup_store(settings().panelbot_database_url, path, force=force))
    except BackupError as exc:
        fail(str(exc), 1)


def restore_cmd(
    path: Annotated[Path, typer.Argument(help="A file `panelbot backup` wrote.")],
    force: ForceOpt = False,
) -> None:
    """Restore a backup into the case store ($PANELBOT_DATABASE_URL): a new SQLite file, or an empty
    PostgreSQL database (pg_restore). Stop `serve` before replacing a live store with --force."""
    from storage.backup import BackupError
    from storage.backup import restore as restore_store

    url = settings().panelbot_database_url
    try:
        _report(restore_store(url, path, force=force))
    except BackupError as exc:
        fail(str(exc), 1)
    status = asyncio.run(_schema(url))
    out.print(f"schema at {status['current']} (head {status['head']})", highlight=False)
    if not status["up_to_date"]:
        out.print("the backup is from an older panelbot: run `panelbot db upgrade` before `serve`", highlight=False)


async def _schema(url: str) -> dict[str, Any]:
    from storage.db import make_engine
    from storage.migrate import schema_status

    engine = make_engine(url)
    try:
        return await schema_status(engine)
    finally:
        await engine.dispose()


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)
