"""What every `panelbot` sub-command shares: output, errors, configuration, the case store.

Exit codes: 0 done, 1 failed, 2 bad input or configuration.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from bot.clock import Clock, SystemClock  # light; tests replace SystemClock here

if TYPE_CHECKING:  # imported where used: `panelbot --help` loads none of them (README, "Fast under a burst")
    from bot.config import AppConfig
    from bot.sealing import Keyring
    from bot.service import Service
    from bot.settings import Settings

T = TypeVar("T")
out = Console()
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="app.yaml to use (default: $PANELBOT_CONFIG or ./app.yaml)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


@functools.cache
def settings() -> Settings:
    """The environment, read once per command (`app`'s callback forgets it before each one)."""
    from bot.settings import Settings

    return Settings()


def data_keys() -> Keyring | None:
    """PANELBOT_DATA_KEY's keys; a malformed one stops the command with one clear line."""
    from bot.sealing import DataKeyError

    try:
        return settings().data_keys
    except DataKeyError as exc:
        fail(str(exc))


def config_path() -> str:
    """$PANELBOT_CONFIG or ./app.yaml: the variable `Settings.panelbot_config` reads (any case), read
    here without loading pydantic-settings, which commands such as `deadlines` need for nothing else."""
    found = [value for name, value in os.environ.items() if name.upper() == "PANELBOT_CONFIG"]
    return found[0] if found else "app.yaml"


def config_or_exit(path: Path | None) -> AppConfig:
    from bot.config import ConfigError, load_config

    try:
        return load_config(path or config_path())
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"{exc.source}: {problem}", highlight=False, markup=False)
        raise typer.Exit(2) from None


def os_user() -> str:
    """Who is at the keyboard, as the operating system knows them: audited beside a command's `--by`,
    which is only what they typed."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid:{os.getuid()}"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def run_with_service(config: Path | None, work: Callable[[Service], Awaitable[T]], clock: Clock | None = None) -> T:
    """Run `work` against the configured case store, refusing a schema that is behind."""
    from bot.flows.common import FlowError, NotFound
    from bot.service import Service
    from storage.migrate import SchemaBehind, require_current_schema

    cfg = config_or_exit(config)

    async def run() -> T:
        env_settings = settings()
        service = Service.create(
            cfg,
            clock or SystemClock(),
            env_settings.panelbot_database_url,
            env_settings.link_key,
            operator=os_user(),
            data_keys=data_keys(),
        )
        try:
            await require_current_schema(service.engine)
            return await work(service)
        finally:
            await service.close()

    try:
        return asyncio.run(run())
    except SchemaBehind as exc:
        fail(str(exc))
    except NotFound as exc:
        fail(exc.message)
    except FlowError as exc:  # refused, or in conflict with the case's state: the command failed
        fail(exc.message, 1)
