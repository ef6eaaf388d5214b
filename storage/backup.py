"""Backing up and restoring the case store, while panelbot runs.

- SQLite: the online backup API (`sqlite3.Connection.backup`): a consistent copy of the whole database
  even while `serve` writes to it, written beside the target and renamed into place.
- PostgreSQL: `pg_dump --format=custom` and `pg_restore`. When they are not installed here, the
  command to run elsewhere is returned instead (with the password left out).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url

from storage.db import is_sqlite


class BackupError(RuntimeError):
    pass


@dataclass(frozen=True)
class Outcome:
    done: bool  # False: nothing was run; `command` says what to run where the tool exists
    detail: str
    command: list[str] | None = None


def sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if database in (None, "", ":memory:"):
        raise BackupError("an in-memory database has nothing to back up or restore")
    return Path(database)


def _copy_sqlite(source: Path, target: Path) -> int:
    """Copy with the online backup API; returns the number of cases in the copy."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            if dst.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"the copy of {source} failed SQLite's integrity check")
            cases = _count_cases(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"{source}: {exc}") from None
    finally:
        src.close()
    os.replace(partial, target)
    return cases


def _count_cases(conn: sqlite3.Connection) -> int:
    try:
        return conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # no schema yet


def libpq_url(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL as pg_dump takes it, and the environment carrying its password."""
    parsed: URL = make_url(url)
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    plain = URL.create("postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, parsed.query)
    return plain.render_as_string(hide_password=False), env


def search_path_schema(url: str) -> str | None:
    """The schema named by `options=-csearch_path=…` in the URL, if any (one schema per test)."""
    options = make_url(url).query.get("options")
    text = unquote(options if isinstance(options, str) else " ".join(options or ()))
    for part in text.split():
        if part.startswith("-csearch_path="):
            return part.split("=", 1)[1].split(",")[0]
    return None


def _run(command: list[str], env: dict[str, str], tool: str) -> None:
    result = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{tool} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")


def backup(url: str, target: Path, force: bool = False) -> Outcome:
    if target.exists() and not force:
        raise BackupError(f"{target} exists: choose a new file (or --force to overwrite it)")
    if is_sqlite(url):
        source = sqlite_file(url)
        if not source.exists():
            raise BackupError(f"{source} does not exist")
        cases = _copy_sqlite(source, target)
        return Outcome(True, f"backed up {cases} cases from {source} to {target}")
    conninfo, env = libpq_url(url)
    command = ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"]
    schema = search_path_schema(url)
    if schema:
        command.append(f"--schema={schema}")
    command.append(f"--dbname={conninfo}")
    if shutil.which("pg_dump") is None:
        return Outcome(False, "pg_dump is not installed here; run this where it is (PGPASSWORD set):", command)
    _run(command, env, "pg_dump")
    return Outcome(True, f"backed up the PostgreSQL database to {target} (pg_dump custom format)")


def restore(url: str, source: Path, force: bool = False) -> Outcome:
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    if is_sqlite(url):
        target = sqlite_file(url)
        if target.exists() and target.stat().st_size > 0 and not force:
            raise BackupError(f"{target} exists: restore into a new file (or --force to replace it; stop serve first)")
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        cases = _copy_sqlite(source, target)
        return Outcome(True, f"restored {cases} cases from {source} into {target}")
    conninfo, env = libpq_url(url)
    command = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    if force:
        command += ["--clean", "--if-exists"]
    command += [f"--dbname={conninfo}", str(source)]
    if shutil.which("pg_restore") is None:
        return Outcome(False, "pg_restore is not installed here; run this where it is (PGPASSWORD set):", command)
    _run(command, env, "pg_restore")
    return Outcome(True, f"restored {source} into the PostgreSQL database")
