"""The partnership's configuration (`app.yaml`), validated into typed models.

Errors are reported by YAML path (`roster[3].agency: ...`) so a Business Manager can find the line.
Secrets never live here: see `bot.settings`.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator


class Role(StrEnum):
    BUSINESS_MANAGER = "business_manager"
    PANEL_MEMBER = "panel_member"
    DEPUTY = "deputy"
    INDEPENDENT_SCRUTINEER = "independent_scrutineer"
    EXECUTIVE_CHAIR = "executive_chair"
    LA_NOTIFIER = "la_notifier"
    AGENCY_LEAD = "agency_lead"
    RR_CHAIR = "rr_chair"


# Roles the process cannot run without; deputies are optional.
REQUIRED_ROLES = [r for r in Role if r is not Role.DEPUTY]
# Roles held per agency: each agency needs one of each.
AGENCY_ROLES = [Role.PANEL_MEMBER, Role.AGENCY_LEAD]


class DecisionRule(StrEnum):
    MAJORITY = "majority"
    UNANIMOUS = "unanimous"
    LA_FINAL_SAY = "la_final_say"


class Channel(StrEnum):
    SLACK = "slack"
    TEAMS = "teams"
    EMAIL = "email"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Partnership(Strict):
    name: str
    reference_prefix: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,11}$")
    timezone: str = "Europe/London"
    mailbox: str | None = None  # the shared mailbox Graph sends from

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class WorkingHours(Strict):
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(17, 0)

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Calendar(Strict):
    country: str = "GB"
    subdiv: str | None = "ENG"
    closures: list[dt.date] = []  # local closure days, e.g. a council's extra day at Christmas


class Duration(Strict):
    """Exactly one of `working_days` or `hours` (004 spoke of 48 hours; 003 of 2 working days)."""

    working_days: int | None = Field(default=None, ge=1, le=400)
    hours: int | None = Field(default=None, ge=1, le=2000)

    @model_validator(mode="after")
    def _exactly_one(self) -> Duration:
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days or hours")
        return self


class Milestone(Strict):
    day: int = Field(ge=1, le=60)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    what: str
    owner: Role
    per_agency: bool = False  # one obligation per agency (the Day 10 returns)


class AuditAssurance(Strict):
    decision_weeks: int = 6
    report_weeks: int = 12


class Cspr(Strict):
    report_months: int = 6
    copy_working_days_before_publication: int = 7
    published_months: int = 12


class RapidReviewMeeting(Strict):
    """The Practice Review Panel meeting: an Outlook invite, sent on plan day `invite_on_day`, for the
    day of the plan milestone `milestone` at local time `at`."""

    milestone: str = "panel_meeting"
    invite_on_day: int = Field(default=3, ge=1, le=60)
    at: dt.time = dt.time(10, 0)
    minutes: int = Field(default=120, ge=15, le=600)


class RapidReviewWithoutNotification(Strict):
    """A Rapid Review the panel does not find notifiable (003 and 004 allow it): `decision` gives it
    the same Day 1-15 plan anchored on the decision's day; `none` gives it no plan."""

    anchor: Literal["decision", "none"] = "decision"


class Process(Strict):
    decision_rule: DecisionRule = DecisionRule.MAJORITY
    vote_requests_to_deputies: bool = True
    referrer_questions_review: bool = False  # the Business Manager sends the panel's questions (after editing)
    referrer_answer_opens_round: bool = False  # the referrer's answer opens the next round without the BM
    screening_due: Duration = Duration(working_days=2)
    notification_due: Duration = Duration(working_days=5)
    rapid_review_due: Duration = Duration(working_days=15)
    rapid_review_plan: list[Milestone] = []
    rapid_review_without_notification: RapidReviewWithoutNotification = RapidReviewWithoutNotification()
    audit_assurance: AuditAssurance = AuditAssurance()
    cspr: Cspr = Cspr()
    complaint_response: Duration = Duration(working_days=20)
    rapid_review_meeting: RapidReviewMeeting = RapidReviewMeeting()
    delay_notice_due: Duration = Duration(working_days=1)  # telling the National Panel of a delay
    reconsideration_report_due: Duration = Duration(working_days=5)  # reporting a reconsideration back
    scrutiny_meeting_due: Duration = Duration(working_days=5)  # the meeting's outcome after a disagreement

    @field_validator("rapid_review_plan")
    @classmethod
    def _unique_keys(cls, plan: list[Milestone]) -> list[Milestone]:
        keys = [m.key for m in plan]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"milestone keys must be unique: {', '.join(dupes)}")
        return plan

    @model_validator(mode="after")
    def _meeting_in_plan(self) -> Process:
        meeting, plan = self.rapid_review_meeting, {m.key: m for m in self.rapid_review_plan}
        if not plan:
            return self
        if meeting.milestone not in plan:
            raise ValueError(f"rapid_review_meeting.milestone {meeting.milestone!r} is not a rapid_review_plan key")
        if meeting.invite_on_day > plan[meeting.milestone].day:
            raise ValueError("rapid_review_meeting.invite_on_day is after the meeting's own day")
        return self


class ChaseStep(Strict):
    """One rung of the chase ladder, relative to an obligation's due time.

    `working_days` is negative before the due date, 0 on it, positive after. `at` is the local time
    of day; when omitted the reminder fires at the offset from the due time itself.
    """

    kind: Literal["chase", "escalation"]
    working_days: int = Field(ge=-10, le=30)
    at: dt.time | None = None
    to: list[Literal["owner", "deputies", "business_manager"]] = ["owner"]


class Chase(Strict):
    ladder: list[ChaseStep] = []
    digest_at: dt.time | None = dt.time(8, 30)


# What Teams allows in an app manifest (schema v1.30): `panelbot teams package` fills these fields.
TEAMS_LIMITS = {"developer_name": 32, "app_short_name": 30, "app_full_name": 100}
TEAMS_FIELD_NAMES = {
    "developer_name": "the developer name",
    "app_short_name": "the app's short name",
    "app_full_name": "the app's full name",
}


class Teams(Strict):
    allowed_tenants: list[str] = []
    developer_name: str | None = None  # shown as the app's developer; default: partnership.name
    app_short_name: str = "panelbot"
    app_full_name: str = "panelbot: safeguarding screening panel"

    @field_validator("developer_name", "app_short_name", "app_full_name")
    @classmethod
    def _within_teams_limit(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return check_teams_limit(str(info.field_name), value)


def check_teams_limit(name: str, value: str) -> str:
    limit = TEAMS_LIMITS[name]
    if len(value) > limit:
        raise ValueError(
            f"Teams allows at most {limit} characters for {TEAMS_FIELD_NAMES[name]}; {value!r} has {len(value)}"
        )
    return value


class Links(Strict):
    """Single-purpose links in e-mails (`bot/flows/links.py`): how long a link lives. They point at the
    desk, `web.base_url`."""

    valid_working_days: int = Field(default=5, ge=1, le=30)


class Reports(Strict):
    """The annual report (`panelbot report annual`): the day the partnership's reporting year starts."""

    year_starts: str = Field(default="04-01", pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")  # MM-DD

    def year(self, year: int) -> tuple[dt.date, dt.date]:
        """The reporting year named by the year it starts in: [start, next start)."""
        month, day = (int(x) for x in self.year_starts.split("-"))
        return dt.date(year, month, day), dt.date(year + 1, month, day)


class Retention(Strict):
    """How long the child's details and contact details are kept after a case closes
    (`panelbot retention apply`). No default: the partnership's records officer sets it."""

    personal_data_after_months: int = Field(ge=1, le=1200)


class Web(Strict):
    """The desk (web front): who may read Part A section 4, where it is reachable, idle sign-out."""

    part_a_readers: list[Role] = [Role.BUSINESS_MANAGER, Role.LA_NOTIFIER]
    base_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    session_idle_minutes: int = Field(default=30, ge=5, le=24 * 60)


class Agency(Strict):
    name: str


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Person(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str
    agency: str | None = None
    roles: list[Role] = Field(min_length=1)
    email: str
    channel: Channel = Channel.EMAIL
    slack: str | None = Field(default=None, pattern=r"^[UW][A-Z0-9]{2,20}$")
    teams: str | None = None  # Entra (AAD) object id
    teams_tenant: str | None = None

    @field_validator("agency")
    @classmethod
    def _known_agency(cls, value: str | None, info: ValidationInfo) -> str | None:
        agencies = (info.context or {}).get("agencies")
        if value is not None and agencies is not None and value not in agencies:
            raise ValueError(f"{value!r} is not one of {', '.join(agencies)}")
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value.lower()

    @model_validator(mode="after")
    def _channel_identity(self) -> Person:
        if self.channel is Channel.SLACK and not self.slack:
            raise ValueError("channel is slack but no slack user id is given")
        if self.channel is Channel.TEAMS and not self.teams:
            raise ValueError("channel is teams but no teams (Entra object) id is given")
        return self

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def may_vote(self) -> bool:
        """A panel member or a deputy of an agency: either may cast that agency's vote."""
        return self.agency is not None and (self.has(Role.PANEL_MEMBER) or self.has(Role.DEPUTY))


class AppConfig(Strict):
    partnership: Partnership
    working_hours: WorkingHours = WorkingHours()
    calendar: Calendar = Calendar()
    agencies: dict[str, Agency]
    process: Process = Process()
    chase: Chase = Chase()
    teams: Teams = Teams()
    links: Links = Links()
    reports: Reports = Reports()
    retention: Retention | None = None
    web: Web = Web()
    roster: list[Person]

    @property
    def tz(self) -> ZoneInfo:
        return self.partnership.tz

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.roster if p.id == person_id), None)

    def holders(self, role: Role, agency: str | None = None) -> list[Person]:
        return [p for p in self.roster if p.has(role) and (agency is None or p.agency == agency)]

    def voters_for(self, agency: str) -> list[Person]:
        """Who may vote for an agency: its panel members, then its deputies."""
        return self.holders(Role.PANEL_MEMBER, agency) + self.holders(Role.DEPUTY, agency)

    def by_slack_id(self, slack_id: str) -> Person | None:
        return next((p for p in self.roster if p.slack == slack_id), None)

    @property
    def teams_developer_name(self) -> str:
        """The developer name on the Teams app: `teams.developer_name`, else the partnership's name."""
        return self.teams.developer_name or self.partnership.name

    def by_teams_id(self, aad_object_id: str) -> Person | None:
        wanted = aad_object_id.lower()
        return next((p for p in self.roster if p.teams and p.teams.lower() == wanted), None)


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` are `path: message` lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def yaml_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _semantic_problems(cfg: AppConfig) -> list[str]:
    problems: list[str] = []
    agencies = list(cfg.agencies)
    seen: dict[str, int] = {}
    for i, person in enumerate(cfg.roster):
        if person.id in seen:
            problems.append(f"roster[{i}].id: {person.id!r} is already used by roster[{seen[person.id]}]")
        seen.setdefault(person.id, i)
        needs_agency = {Role.PANEL_MEMBER, Role.DEPUTY, Role.AGENCY_LEAD} & set(person.roles)
        if needs_agency and person.agency is None:
            role_names = ", ".join(sorted(needs_agency))
            problems.append(f"roster[{i}].agency: required for role {role_names}")
    problems += _duplicate_identities(cfg, "slack") + _duplicate_identities(cfg, "teams")
    for role in REQUIRED_ROLES:
        if not cfg.holders(role):
            problems.append(f"roster: nobody holds the role {role.value}")
    for agency in agencies:
        for role in AGENCY_ROLES:
            if not cfg.holders(role, agency):
                problems.append(f"roster: agency {agency!r} has no {role.value}")
    problems += _teams_developer_name(cfg)
    if "la" not in cfg.agencies and cfg.process.decision_rule is DecisionRule.LA_FINAL_SAY:
        problems.append("process.decision_rule: la_final_say needs an agency with the key 'la'")
    return problems


def _teams_developer_name(cfg: AppConfig) -> list[str]:
    """With people in Teams, the app's developer name must fit Teams' limit; the partnership's own
    name, the default, often does not."""
    limit = TEAMS_LIMITS["developer_name"]
    in_teams = any(p.channel is Channel.TEAMS for p in cfg.roster)
    if not in_teams or cfg.teams.developer_name is not None or len(cfg.partnership.name) <= limit:
        return []
    return [
        f"teams.developer_name: required, because partnership.name ({len(cfg.partnership.name)} characters) is "
        f"longer than the {limit} characters Teams allows for the developer name"
    ]


def _duplicate_identities(cfg: AppConfig, field: str) -> list[str]:
    problems, seen = [], {}
    for i, person in enumerate(cfg.roster):
        value = getattr(person, field)
        if value is None:
            continue
        if value in seen:
            problems.append(f"roster[{i}].{field}: {value!r} is already used by roster[{seen[value]}]")
        seen.setdefault(value, i)
    return problems


def _message(err: dict[str, Any]) -> str:
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return msg


def parse_config(data: Any, source: str = "app.yaml") -> AppConfig:
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping"])
    try:
        agencies = data.get("agencies")
        context = {"agencies": list(agencies)} if isinstance(agencies, dict) else None
        cfg = AppConfig.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(source, [f"{yaml_path(e['loc'])}: {_message(e)}" for e in exc.errors()]) from None
    problems = _semantic_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def load_config(path: str | Path = "app.yaml") -> AppConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"(file): not valid YAML: {exc}"]) from None
    return parse_config(data, str(path))
