"""Counting votes: pure functions, no database, no clock.

A decision needs the configured rule met on both questions, the pathway and *notifiable?*. Under
`majority` that is more than half of the agencies on one pathway, and more than half saying yes (or
no) to notifiable; so two agreeing pathways with split notifiable answers wait for the third vote.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from bot.config import DecisionRule


class Pathway(StrEnum):
    RAPID_REVIEW = "rapid_review"
    AUDIT_ASSURANCE = "audit_assurance"
    NO_FURTHER_ACTION = "no_further_action"
    QUERY_REFERRER = "query_referrer"


PATHWAY_LABELS = {
    Pathway.RAPID_REVIEW: "Rapid Review",
    Pathway.AUDIT_ASSURANCE: "Audit & assurance",
    Pathway.NO_FURTHER_ACTION: "No further action",
    Pathway.QUERY_REFERRER: "Queries to referrer",
}


@dataclass(frozen=True)
class Ballot:
    agency: str
    pathway: Pathway
    notifiable: bool


@dataclass(frozen=True)
class Outcome:
    pathway: Pathway
    notifiable: bool
    method: str  # majority | unanimous | la_final_say
    deciding: tuple[str, ...]  # agencies whose votes carried the pathway


@dataclass(frozen=True)
class Deadlock:
    reason: str


def tally(ballots: list[Ballot], agencies: list[str], rule: DecisionRule) -> Outcome | Deadlock | None:
    """The outcome if the rule is met, a deadlock if it can no longer be, or None: keep waiting."""
    ballots = [b for b in ballots if b.agency in agencies]
    all_in = {b.agency for b in ballots} == set(agencies)
    if rule is DecisionRule.UNANIMOUS:
        return _unanimous(ballots, agencies, all_in)
    outcome = _majority(ballots, agencies)
    if outcome is not None:
        return outcome
    if not all_in:
        return None
    if rule is DecisionRule.LA_FINAL_SAY:
        return final_say(ballots, "la")
    return Deadlock("the agencies split with no majority")


def _majority(ballots: list[Ballot], agencies: list[str]) -> Outcome | None:
    need = len(agencies) // 2 + 1
    pathway, count = _top(Counter(b.pathway for b in ballots))
    yes = sum(b.notifiable for b in ballots)
    no = len(ballots) - yes
    if pathway is None or count < need or max(yes, no) < need:
        return None
    deciding = tuple(sorted(b.agency for b in ballots if b.pathway == pathway))
    unanimous = len(ballots) == len(agencies) and count == len(agencies) and (yes == 0 or no == 0)
    return Outcome(pathway, yes >= need, "unanimous" if unanimous else "majority", deciding)


def _unanimous(ballots: list[Ballot], agencies: list[str], all_in: bool) -> Outcome | Deadlock | None:
    pathways = {b.pathway for b in ballots}
    answers = {b.notifiable for b in ballots}
    if len(pathways) > 1 or len(answers) > 1:
        return Deadlock("the rule is unanimity and the agencies disagree")
    if not all_in:
        return None
    return Outcome(pathways.pop(), answers.pop(), "unanimous", tuple(sorted(agencies)))


def final_say(ballots: list[Ballot], agency: str) -> Outcome | Deadlock:
    """Under `la_final_say`, the LA's vote settles what a majority could not."""
    la_vote = next((b for b in ballots if b.agency == agency), None)
    if la_vote is None:
        return Deadlock("no majority, and the LA, which has the final say, has not voted")
    return Outcome(la_vote.pathway, la_vote.notifiable, "la_final_say", (agency,))


def _top(counts: Counter[Pathway]) -> tuple[Pathway | None, int]:
    if not counts:
        return None, 0
    (pathway, count), *rest = counts.most_common()
    if rest and rest[0][1] == count:
        return None, count
    return pathway, count
