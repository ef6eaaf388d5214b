"""Who owes an obligation, who stands behind them, how urgent it is (RAG), and whether a Rapid
Review's plan still fits its statutory date. Pure functions over rows and the config: the chase
ladder, the digest and `panelbot timeline` all read obligations through these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.config import Person, Role
from bot.flows.common import Env
from bot.states import ObligationState
from storage.models import Case, Obligation

RED, AMBER, GREEN = "red", "amber", "green"
_ORDER = {GREEN: 0, AMBER: 1, RED: 2}
RR_PREFIX = "rr:"  # Rapid Review milestone obligations: rr:{milestone key}[:{agency}]


ROLE_LABELS = {
    Role.BUSINESS_MANAGER: "Business Manager",
    Role.PANEL_MEMBER: "panel member",
    Role.DEPUTY: "deputy",
    Role.INDEPENDENT_SCRUTINEER: "Independent Scrutineer",
    Role.EXECUTIVE_CHAIR: "Executive Chair",
    Role.LA_NOTIFIER: "LA notifier",
    Role.AGENCY_LEAD: "agency lead",
    Role.RR_CHAIR: "Rapid Review chair",
}


def role_label(env: Env, role: str, agency: str | None) -> str:
    name = ROLE_LABELS.get(Role(role), role.replace("_", " "))
    if agency is None:
        return name[0].upper() + name[1:]
    info = env.cfg.agencies.get(agency)
    return f"{info.name if info else agency} {name}"


def owners(env: Env, ob: Obligation) -> list[Person]:
    """The people who owe it: its named person when they are on the roster (an action's owner), else
    holders of its role, within its agency when it is an agency's."""
    named = env.cfg.person(ob.owner_person) if ob.owner_person else None
    return [named] if named is not None else env.cfg.holders(Role(ob.owner_role), ob.owner_agency)


def deputies(env: Env, ob: Obligation) -> list[Person]:
    """The owning agency's deputies; nobody for an obligation that is not an agency's."""
    return env.cfg.holders(Role.DEPUTY, ob.owner_agency) if ob.owner_agency else []


def owner_label(env: Env, ob: Obligation) -> str:
    names = ", ".join(p.name for p in owners(env, ob)) or "nobody on the roster"
    if ob.owner_person:
        named = env.cfg.person(ob.owner_person)
        agency = env.cfg.agencies[ob.owner_agency].name if ob.owner_agency in env.cfg.agencies else ob.owner_agency
        if named is not None:
            return f"{named.name} ({agency})"
        return f"{ob.owner_person} ({agency}; chased through {role_label(env, ob.owner_role, None).lower()} {names})"
    return f"{role_label(env, ob.owner_role, ob.owner_agency)} ({names})"


def may_act_for(env: Env, ob: Obligation, person: Person) -> bool:
    """The owner (role, and agency for an agency's obligation) or any Business Manager."""
    return person.has(Role.BUSINESS_MANAGER) or person in owners(env, ob)


def rag(env: Env, ob: Obligation, now: dt.datetime) -> str | None:
    """Red: overdue. Amber: due today or on the next working day. Green: later. None: not open."""
    if ob.state != ObligationState.OPEN:
        return None
    if now > ob.due_at:
        return RED
    return AMBER if env.cal.working_days_left(now, ob.due_at) <= 2 else GREEN


def worst(rags: list[str | None]) -> str:
    present = [r for r in rags if r is not None]
    return max(present, key=_ORDER.__getitem__) if present else GREEN


def plan_last_day(env: Env) -> int:
    return max((m.day for m in env.cfg.process.rapid_review_plan), default=0)


@dataclass(frozen=True)
class PlanRisk:
    """How a running Rapid Review stands against its statutory date."""

    milestone: Obligation  # the earliest open milestone
    left: int  # working days left before the statutory due time, today included
    need: int  # working days the plan needs from that milestone to submission, at plan pace

    @property
    def slack(self) -> int:
        return self.left - self.need

    @property
    def at_risk(self) -> bool:
        """No spare working day left: one more day's slip misses the statutory date."""
        return self.slack <= 0

    def slipped(self, now: dt.datetime) -> bool:
        """The delay prompt's test: a milestone is overdue and fewer days are left than the plan needs."""
        return now > self.milestone.due_at and self.slack < 0


def plan_risk(env: Env, case: Case, open_obs: list[Obligation], now: dt.datetime) -> PlanRisk | None:
    milestones = [
        o
        for o in open_obs
        if o.key.startswith(RR_PREFIX) and o.plan_day is not None and o.state == ObligationState.OPEN
    ]
    if case.rapid_review_due is None or not milestones:
        return None
    first = min(milestones, key=lambda o: (o.plan_day, o.due_at))
    assert first.plan_day is not None
    need = plan_last_day(env) - first.plan_day + 1
    return PlanRisk(first, env.cal.working_days_left(now, case.rapid_review_due), need)


def risk_day(env: Env, statutory_due: dt.datetime, need: int) -> dt.date:
    """The first working day on which fewer than `need` working days are left before the statutory
    due date (that day included): from then on, a milestone still open there puts the date at risk."""
    last = env.cal.local_date(statutory_due)
    if need <= 1:
        return env.cal.add_working_days(last, 1)
    return env.cal.add_working_days(last, -(need - 2))
