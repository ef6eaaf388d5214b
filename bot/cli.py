"""The `panelbot` command. Exit codes: 0 done, 1 failed, 2 bad input or configuration."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from bot import deadlines as deadline_calc
from bot.config import AppConfig, ConfigError, load_config
from bot.settings import Settings

app = typer.Typer(
    help="Run a safeguarding children partnership's screening panel and Rapid Reviews.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the partnership's configuration.", no_args_is_help=True)
db_app = typer.Typer(help="The case store's schema.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="app.yaml to use (default: $PANELBOT_CONFIG or ./app.yaml)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def settings() -> Settings:
    return Settings()


def config_or_exit(path: Path | None) -> AppConfig:
    try:
        return load_config(path or settings().panelbot_config)
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(f"{exc.source}: {problem}", highlight=False, markup=False)
        raise typer.Exit(2) from None


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="The file to check.")] = Path("app.yaml")) -> None:
    """Validate app.yaml; names every problem by its YAML path. Exit 0 valid, 2 invalid."""
    cfg = config_or_exit(path)
    out.print(f"{path}: valid — {cfg.partnership.name}, {len(cfg.roster)} people, rule {cfg.process.decision_rule}")


@app.command()
def deadlines(
    received: Annotated[str, typer.Option(help="When the referral was received (ISO; London time unless offset).")],
    notified: Annotated[str | None, typer.Option(help="Date the National Panel was notified.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The deadlines a referral gets under the configuration."""
    cfg = config_or_exit(config)
    try:
        received_at = deadline_calc.parse_when(received, cfg.tz, day_start=cfg.working_hours.start)
        notified_on = deadline_calc.parse_when(notified, cfg.tz).astimezone(cfg.tz).date() if notified else None
        result = deadline_calc.referral_deadlines(cfg, received_at, notified_on)
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        out.print(deadline_calc.deadlines_table(result))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the case store's schema ($PANELBOT_DATABASE_URL)."""
    from storage.db import make_engine
    from storage.migrate import schema_status, upgrade

    async def run() -> dict[str, Any]:
        engine = make_engine(settings().panelbot_database_url)
        try:
            await upgrade(engine)
            return await schema_status(engine)
        finally:
            await engine.dispose()

    status = asyncio.run(run())
    out.print(f"schema at {status['current']} (head {status['head']})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3978,
    config: ConfigOpt = None,
) -> None:
    """Run the web server (Slack, Teams, /healthz), the reminders and the delivery loop."""
    from bot.runtime import serve as run_server
    from storage.migrate import SchemaBehind

    cfg = config_or_exit(config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_server(cfg, settings(), host, port))
    except SchemaBehind as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


def main() -> None:
    app()


if __name__ == "__main__":
    main()
