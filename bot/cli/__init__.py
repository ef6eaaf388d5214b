"""The `panelbot` command. Exit codes: 0 done, 1 failed, 2 bad input or configuration."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from bot import logs
from bot.cli import backups, record, review, teams, timeline
from bot.cli.common import (
    ConfigOpt,
    JsonOpt,
    config_or_exit,
    data_keys,
    fail,
    out,
    print_json,
    run_with_service,
    settings,
)

# Each command imports what it uses, in its body: `panelbot --help` loads typer and these modules only,
# and no command pays for a platform, SQLAlchemy or Alembic it does not use (README, "Fast under a burst").

DATA = Path(__file__).resolve().parents[1] / "data"
DEMO_SCENARIO = DATA / "demo.yaml"

app = typer.Typer(
    help="Run a safeguarding children partnership's screening panel and Rapid Reviews.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check the partnership's configuration.", no_args_is_help=True)
db_app = typer.Typer(help="The case store's schema.", no_args_is_help=True)
referral_app = typer.Typer(help="Referrals (Part A of the notification form).", no_args_is_help=True)
case_app = typer.Typer(help="One case.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.callback()
def _start() -> None:
    settings.cache_clear()  # each command reads the environment once, as it is when the command starts


app.add_typer(db_app, name="db")
app.add_typer(referral_app, name="referral")
app.add_typer(case_app, name="case")


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
    from bot import deadlines as deadline_calc

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
    socket_mode: Annotated[
        bool,
        typer.Option(
            "--socket-mode", help="Also connect to Slack over Socket Mode (SLACK_APP_TOKEN): no public URL needed."
        ),
    ] = False,
) -> None:
    """Run the web server (Slack, Teams, /healthz), the reminders and the delivery loop."""
    from bot.handlers.web.session import is_loopback
    from bot.runtime import serve as run_server
    from storage.migrate import SchemaBehind

    cfg = config_or_exit(config)
    env = settings()
    data_keys()  # a malformed PANELBOT_DATA_KEY stops here, with one line
    if env.panelbot_web_dev_login and not is_loopback(host):
        fail(
            f"PANELBOT_WEB_DEV_LOGIN=true lets anyone sign in as anyone; serve refuses it on {host}. "
            "Bind to 127.0.0.1 (the default) or switch it off and configure Entra ID sign-in."
        )
    if socket_mode and not (env.slack_bot_token and env.slack_app_token):
        fail("--socket-mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN (an xapp-… app-level token)")
    logs.configure(env.panelbot_log_format)
    try:
        asyncio.run(run_server(cfg, env, host, port, socket_mode=socket_mode))
    except SchemaBehind as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        pass


@referral_app.command("add")
def referral_add(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A referral YAML (Part A fields).")] = None,
    by: Annotated[str | None, typer.Option(help="Roster id of the Business Manager registering it.")] = None,
    referrer_name: Annotated[str | None, typer.Option(help="Referrer's name.")] = None,
    referrer_email: Annotated[str | None, typer.Option(help="Referrer's e-mail, for the outcome notice.")] = None,
    summary: Annotated[str | None, typer.Option(help="Summary for the panel: no names, no addresses.")] = None,
    received: Annotated[str | None, typer.Option(help="When it was received (ISO; default now).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Register a referral, convene the screening panel, and print the case reference."""
    from pydantic import ValidationError

    from bot import deadlines as deadline_calc
    from bot.config import Role
    from bot.flows.commands import RegisterReferral, field_errors
    from bot.flows.screening import panel

    cfg = config_or_exit(config)
    data = _referral_file(file) if file is not None else {}
    flags = {"panel_summary": summary, "received_at": received}
    data.update({k: v for k, v in flags.items() if v is not None})
    if not isinstance(data.get("referrer") or {}, dict):
        fail(f"{file}: `referrer` must be a mapping (name, email, …)")
    referrer = dict(data.get("referrer") or {})
    referrer.update({k: v for k, v in {"name": referrer_name, "email": referrer_email}.items() if v})
    data["referrer"] = referrer
    data.setdefault("by", by or cfg.holders(Role.BUSINESS_MANAGER)[0].id)
    if isinstance(data.get("received_at"), str):
        try:
            data["received_at"] = deadline_calc.parse_when(data["received_at"], cfg.tz)
        except ValueError as exc:
            fail(str(exc))
    try:
        cmd = RegisterReferral.model_validate(data)
    except ValidationError as exc:
        fail("; ".join(f"{k}: {v}" for k, v in field_errors(exc).items()))
    case = run_with_service(config, lambda svc: svc.run(panel.register_referral, cmd))
    out.print(case.ref)


def _referral_file(file: Path) -> dict[str, Any]:
    """A referral YAML: a mapping of Part A fields. Anything else is one line and exit 2."""
    import yaml

    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: cannot read it ({type(exc).__name__}: {getattr(exc, 'strerror', None) or exc})")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        fail(f"{file}: not valid YAML{where}")
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        kind = type(data).__name__
        fail(f"{file}: a referral file must be a mapping of fields (referrer, panel_summary, …), not a {kind}")
    return data


ByOpt = Annotated[str | None, typer.Option("--by", help="Roster id of the Business Manager (default: the first).")]


@case_app.command("show")
def case_show(
    ref: str,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    with_links: Annotated[
        bool, typer.Option("--links", help="Also make and print a new link for each open purpose and person.")
    ] = False,
    by: ByOpt = None,
) -> None:
    """A case's status, deadlines, rounds, votes, decision, scrutiny and messages (no child details)."""
    from bot import render
    from bot.config import Role
    from bot.flows import links
    from bot.views import case_view

    cfg = config_or_exit(config)
    by = by or cfg.holders(Role.BUSINESS_MANAGER)[0].id

    async def work(svc):
        view = await svc.read(lambda uow: case_view(uow, svc.env, ref))
        made = await svc.run(links.fresh_links, links.FreshLinks(by=by, ref=ref)) if with_links else None
        return view, made

    view, made = run_with_service(config, work)
    if as_json:
        if made is not None:
            view = {**view, "links": [render.fresh_link_json(m) for m in made]}
        print_json(view)
        return
    render.case(out, view)
    if made is not None:
        render.fresh_links(out, made)


@case_app.command("part-a")
def case_part_a(ref: str, by: ByOpt = None, config: ConfigOpt = None) -> None:
    """Part A section 4 (the child's details) for the Business Manager; audited. Locked without PANELBOT_DATA_KEY."""
    from bot.config import Role
    from bot.flows.personal import ReadPartA, read_part_a

    cfg = config_or_exit(config)
    by = by or cfg.holders(Role.BUSINESS_MANAGER)[0].id
    case_ref, shown = run_with_service(config, lambda svc: svc.run(read_part_a, ReadPartA(by=by, ref=ref)))
    out.print(f"{case_ref} — Part A section 4 (confidential: never paste it into chat or e-mail)", highlight=False)
    if not shown.readable:
        out.print(shown.notice, highlight=False)
        return
    for name, value in (shown.details or {}).items():
        out.print(f"  {name.replace('_', ' ')}: {value}", highlight=False, markup=False)


@case_app.command("ask-referrer")
def case_ask_referrer(
    ref: str,
    question: Annotated[list[str], typer.Option("--question", help="A question for the referrer (repeat for more).")],
    by: ByOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send the panel's questions, as the Business Manager edited them, to the referrer with a link to answer."""
    from bot.config import Role
    from bot.flows.screening import referrer

    cfg = config_or_exit(config)
    by = by or cfg.holders(Role.BUSINESS_MANAGER)[0].id
    cmd = referrer.SendReferrerQuestions(by=by, ref=ref, questions=question)
    run_with_service(config, lambda svc: svc.run(referrer.send_questions, cmd))
    out.print(f"Questions sent to the referrer of {ref.upper()}.")


@case_app.command("revoke-links")
def case_revoke_links(
    ref: str,
    person: Annotated[str | None, typer.Option(help="Only this roster id's links.")] = None,
    by: ByOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Withdraw a case's live links (all, or one person's): they open a 'withdrawn' page from now on."""
    from bot.config import Role
    from bot.flows import links

    cfg = config_or_exit(config)
    cmd = links.RevokeLinks(by=by or cfg.holders(Role.BUSINESS_MANAGER)[0].id, ref=ref, person=person)
    count = run_with_service(config, lambda svc: svc.run(links.revoke_links, cmd))
    out.print(f"{count} link(s) withdrawn.")


@app.command("cases")
def cases(
    open_only: Annotated[bool, typer.Option("--open", help="Only cases still in progress.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One line per case with its next deadline."""
    from bot import render
    from bot.views import cases_view

    rows = run_with_service(config, lambda svc: svc.read(lambda uow: cases_view(uow, svc.env, open_only)))
    if as_json:
        print_json(rows)
    else:
        render.cases(out, rows)


@app.command("simulate")
def simulate_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML: a list of steps.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="Keep the case store in this new SQLite file (for `timeline`, `case show`)."),
    ] = None,
) -> None:
    """Play a scenario through the real flows on an in-memory store with a virtual clock."""
    from bot import render
    from bot.simulate import ScenarioError, load_scenario, simulate

    if keep is not None and keep.exists():
        fail(f"{keep} already exists; --keep writes a new case store.")
    url = f"sqlite+aiosqlite:///{keep}" if keep is not None else "sqlite+aiosqlite://"
    try:
        cfg, steps = load_scenario(scenario, config_or_exit(config))
        result = asyncio.run(simulate(cfg, steps, database_url=url))
    except ScenarioError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        render.simulation(out, cfg, result)


@app.command()
def demo(
    config: ConfigOpt = None,
    pdf_dir: Annotated[
        Path | None, typer.Option("--pdf-dir", help="Where to write the case PDF (default: a temporary folder).")
    ] = None,
) -> None:
    """A bundled screening played through `simulate`: what each person would have seen, and the record."""
    from bot import render
    from bot.simulate import load_scenario, simulate

    cfg, steps = load_scenario(DEMO_SCENARIO, config_or_exit(config))
    folder = pdf_dir or Path(tempfile.mkdtemp(prefix="panelbot-demo-"))
    the_record: list[str] = []
    out.rule("panelbot demo: a screening panel decides without a meeting")
    result = asyncio.run(
        simulate(
            cfg,
            steps,
            on_send=lambda item: render.delivered(out, cfg, item),
            on_step=lambda at, kind, data: render.step(out, cfg, at, kind, data),
            on_link=lambda url, page: render.link_opened(out, url, page),
            at_end=lambda service: record.demo_record(service, folder, the_record),
        )
    )
    render.simulation(out, cfg, result)
    out.rule("The record")
    for line in the_record:
        out.print(line, highlight=False)


timeline.register(app)  # timeline, tick, milestone done, delay, cspr, complaint
review.register(app)  # outcome, signoff, submission, action add, reconsider, scrutiny-meeting
teams.register(app)  # teams package, roster sync
record.register(app)  # audit verify / export, reports, keys, retention
backups.register(app)  # backup, restore


def main() -> None:
    app()


if __name__ == "__main__":
    main()
