"""`panelbot` commands for Microsoft Teams and the directory: `teams package`, `roster sync`.

Wired into `bot.cli` by `register(app)`; the shared helpers come from `bot.cli.common`.
"""

from __future__ import annotations

import asyncio
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli import common as cli
from bot.cli.common import ConfigOpt

if TYPE_CHECKING:  # Graph (MSAL, azure-identity, msgraph) is imported only by `roster sync`, when it runs
    from bot.config import AppConfig, Person
    from bot.handlers.graph.client import GraphClient
    from bot.settings import Settings

TEAMS_DIR = Path(__file__).resolve().parents[2] / "teams"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")  # the manifest schema's pattern


# --- teams package ------------------------------------------------------------------------------


PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


def manifest(template: str, values: dict[str, str]) -> dict[str, Any]:
    """The manifest template with `{{NAME}}` filled in every string (after parsing, so a value with
    quotes in it cannot break the JSON)."""
    left: set[str] = set()

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            return PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or left.add(m.group(0)) or m.group(0), node)
        return node

    data = fill(json.loads(template))
    if left:
        raise ValueError(f"manifest template has unfilled values: {', '.join(sorted(left))}")
    return data


def manifest_values(cfg: AppConfig, bot_id: str, urls: dict[str, str], version: str) -> dict[str, str]:
    """What fills the template, from app.yaml's `teams` section; names checked against Teams' limits."""
    from bot.config import check_teams_limit

    names = {
        "developer_name": cfg.teams_developer_name,
        "app_short_name": cfg.teams.app_short_name,
        "app_full_name": cfg.teams.app_full_name,
    }
    for name, value in names.items():
        try:
            check_teams_limit(name, value)
        except ValueError as exc:
            raise ValueError(f"teams.{name} in app.yaml: {exc}") from None
    return {
        "BOT_ID": bot_id,
        "WEBSITE_URL": urls["website"],
        "PRIVACY_URL": urls["privacy"],
        "TERMS_URL": urls["terms"],
        "VERSION": version,
        "DEVELOPER_NAME": names["developer_name"],
        "SHORT_NAME": names["app_short_name"],
        "FULL_NAME": names["app_full_name"],
    }


def write_package(source: Path, out: Path, data: dict[str, Any]) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(data, indent=2))
        for icon in (data["icons"]["color"], data["icons"]["outline"]):
            archive.write(source / icon, icon)
    return out


def package(
    website: Annotated[str, typer.Option(help="The partnership's web site (https), shown in the Teams store entry.")],
    privacy_url: Annotated[str | None, typer.Option(help="Privacy notice (https); default: the web site.")] = None,
    terms_url: Annotated[str | None, typer.Option(help="Terms of use (https); default: the web site.")] = None,
    version: Annotated[str, typer.Option(help="App version; raise it for each upload.")] = "1.0.0",
    out: Annotated[Path, typer.Option(help="Where to write the zip.")] = TEAMS_DIR / "panelbot-teams.zip",
    config: ConfigOpt = None,
) -> None:
    """Write the Teams app package (manifest and icons) for upload, with the bot id from the environment
    and the app's names from app.yaml's `teams` section."""
    cfg = cli.config_or_exit(config)
    bot_id = cli.settings().teams_client_id or ""
    if not GUID.match(bot_id):
        cli.fail("set CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID to the Azure Bot's app (client) id")
    urls = {"website": website, "privacy": privacy_url or website, "terms": terms_url or website}
    bad = [name for name, url in urls.items() if not url.startswith("https://")]
    if bad:
        cli.fail(f"Teams needs https addresses: {', '.join(bad)}")
    template = (TEAMS_DIR / "manifest.json").read_text(encoding="utf-8")
    if not VERSION.match(version):
        cli.fail(f"--version must look like 1.0.0 (three numbers), not {version!r}")
    try:
        data = manifest(template, manifest_values(cfg, bot_id, urls, version))
    except ValueError as exc:
        cli.fail(str(exc))
    written = write_package(TEAMS_DIR, out, data)
    where = "upload it in Teams (Apps > Manage your apps > Upload an app) or the Teams admin centre"
    cli.out.print(f"wrote {written}: {where}", soft_wrap=True, highlight=False)


# --- roster sync --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncLine:
    person: Person
    status: str  # same | differs | missing | found | not_checked
    directory_id: str | None = None

    def describe(self) -> str:
        p = self.person
        return {
            "same": f"{p.id}: {p.email} matches {p.teams}",
            "differs": f"{p.id}: {p.email} is {self.directory_id} in the directory, but app.yaml has {p.teams}",
            "missing": f"{p.id}: {p.email} was not found in the directory",
            "found": f"{p.id}: {p.email} is {self.directory_id} in the directory (no teams id in app.yaml)",
            "not_checked": f"{p.id}: not checked: their Teams tenant {p.teams_tenant} is not this directory's",
        }[self.status]


async def sync_roster(cfg: AppConfig, graph: GraphClient, directory_tenant: str | None) -> list[SyncLine]:
    """Look each roster e-mail up in the directory; compare with the roster's Entra object ids.

    People in another tenant are not checked: a guest account here has a different object id from
    the one their own tenant gives them, and that is the one Teams shows the bot."""
    lines = []
    for person in cfg.roster:
        if person.teams_tenant and directory_tenant and person.teams_tenant != directory_tenant:
            lines.append(SyncLine(person, "not_checked"))
            continue
        user = await graph.find_user(person.email)
        if user is None:
            lines.append(SyncLine(person, "missing"))
        elif person.teams is None:
            lines.append(SyncLine(person, "found", user.id))
        else:
            lines.append(SyncLine(person, "same" if user.id.lower() == person.teams.lower() else "differs", user.id))
    return lines


def rewrite_teams_ids(text: str, changes: dict[str, str]) -> tuple[str, list[str]]:
    """Change `teams:` on one-line roster entries (`- {id: x, …, teams: …}`), leaving every other
    character of the file as it was. Returns the new text and the ids it could not change safely."""
    lines, done = text.splitlines(keepends=True), set()
    for i, line in enumerate(lines):
        match = re.match(r"^\s*-\s*\{.*\bid:\s*([A-Za-z0-9_.-]+)\s*[,}]", line)
        if not match or match.group(1) not in changes:
            continue
        person_id, new = match.group(1), changes[match.group(1)]
        updated, count = re.subn(r"(\bteams:\s*)[^,}\s]+", rf"\g<1>{new}", line)
        if count == 1:
            lines[i] = updated
            done.add(person_id)
    return "".join(lines), sorted(set(changes) - done)


GraphFactory = Callable[["Settings"], "GraphClient"]
graph_factory: GraphFactory | None = None  # GraphClient.from_settings; tests point it at the fake Graph


def sync(
    config: ConfigOpt = None,
    write: Annotated[bool, typer.Option("--write", help="Correct differing teams ids in app.yaml.")] = False,
) -> None:
    """Check the roster against Entra ID: people not found, and teams ids that differ from app.yaml.

    Changes nothing unless --write is given. Exit 0 all found and matching, 1 otherwise."""
    path = Path(config or cli.settings().panelbot_config)
    cfg = cli.config_or_exit(path)
    settings = cli.settings()
    if not settings.graph_enabled:
        cli.fail("set GRAPH_TENANT_ID, GRAPH_CLIENT_ID and GRAPH_CLIENT_SECRET (User.Read.All) to look people up")
    lines = asyncio.run(_sync(cfg, settings))
    for line in lines:
        style = {"same": "green", "not_checked": "dim", "found": "yellow"}.get(line.status, "red")
        cli.out.print(f"[{style}]{line.status:>11}[/{style}]  {line.describe()}", highlight=False, soft_wrap=True)
    changes = {line.person.id: line.directory_id for line in lines if line.status == "differs" and line.directory_id}
    if write and changes:
        _write(cli, path, changes)
    elif changes:
        cli.out.print("Nothing changed; run again with --write to correct the differing ids.", soft_wrap=True)
    if any(line.status in ("missing", "differs") for line in lines):
        raise typer.Exit(1)


async def _sync(cfg: AppConfig, settings: Settings) -> list[SyncLine]:
    from bot.handlers.graph.client import GraphClient, GraphError

    graph = (graph_factory or GraphClient.from_settings)(settings)
    try:
        return await sync_roster(cfg, graph, settings.graph_tenant_id)
    except GraphError as exc:
        cli.fail(f"directory look-up failed: {exc}", code=1)
    finally:
        await graph.close()


def _write(cli: Any, path: Path, changes: dict[str, str]) -> None:
    import yaml

    from bot.config import ConfigError, parse_config

    text, skipped = rewrite_teams_ids(path.read_text(encoding="utf-8"), changes)
    try:
        parse_config(yaml.safe_load(text), str(path))
    except ConfigError as exc:
        cli.fail(f"not written: the corrected file would not be valid: {exc}")
    path.write_text(text, encoding="utf-8")
    fixed = ", ".join(sorted(set(changes) - set(skipped))) or "nobody"
    cli.out.print(f"{path}: corrected teams ids for {fixed}", soft_wrap=True, highlight=False)
    for person_id in skipped:
        hint = f"{person_id}: not a one-line roster entry; set `teams: {changes[person_id]}` by hand"
        cli.out.print(hint, soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    teams_app = typer.Typer(help="The Microsoft Teams app.", no_args_is_help=True)
    teams_app.command("package")(package)
    app.add_typer(teams_app, name="teams")
    roster_app = typer.Typer(help="The roster against the organisation's directory.", no_args_is_help=True)
    roster_app.command("sync")(sync)
    app.add_typer(roster_app, name="roster")
