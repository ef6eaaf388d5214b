"""One small pydantic model per thing a person does. Handlers build these; flows carry them out.

`by` is always a roster id taken from a verified identity (Slack signature, Teams token, the CLI
operator), never from a button's value. Field names match the form fields in `bot.forms`, so a
validation error can be shown beside the input it is about.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.flows import disclosure
from bot.flows.screening.tally import Pathway


def _shareable(value: str | None, info: ValidationInfo) -> str | None:
    """Text bound for chat or e-mail: refused if it holds an NHS number or a postcode (never echoed)."""
    found = disclosure.pattern_findings(value) if value else []
    if found:
        raise PydanticCustomError("identifying", disclosure.findings_message(info.field_name or "text", found))
    return value


Shareable = AfterValidator(_shareable)

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
RATIONALE_MIN, RATIONALE_MAX = 20, 3000  # the limits forms show are these, from `bot.forms`
Rationale = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=RATIONALE_MIN, max_length=RATIONALE_MAX), Shareable
]
SharedText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000), Shareable]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=32)]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    by: str


class Referrer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Short = Field(min_length=1)
    role: Short | None = None
    agency: Short | None = None
    phone: Short | None = None
    email: Short | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ChildDetails(BaseModel):
    """Part A section 4. Stored, never sent to chat."""

    model_config = ConfigDict(extra="forbid")
    last_name: Short | None = None
    forenames: Short | None = None
    other_names: Short | None = None
    date_of_birth: dt.date | None = None
    age: Short | None = None
    gender: Short | None = None
    ethnicity: Short | None = None
    disability: Text | None = None
    home_address: Text | None = None
    carers: Text | None = None
    nhs_number: Short | None = None

    @field_validator("nhs_number")
    @classmethod
    def _nhs_number(cls, value: str | None) -> str | None:
        if not value:
            return None
        digits = "".join(ch for ch in value if ch.isdigit())
        if not disclosure.nhs_number_valid(digits) or any(ch not in "0123456789 -" for ch in value):
            raise PydanticCustomError("nhs_number", "this is not an NHS number (ten digits with a valid check digit)")
        return digits


class RegisterReferral(Command):
    received_at: dt.datetime | None = None  # when the form reached the mailbox; default now
    aware_at: dt.datetime | None = None  # when the partnership became aware of the incident; default received
    incident_date: dt.date | None = None
    referrer: Referrer
    child: ChildDetails = ChildDetails()
    event_description: Text | None = None
    abuse_detail: Text | None = None
    agency_work: Text | None = None
    review_reason: Text | None = None
    additional_info: Text | None = None
    panel_summary: Rationale  # the same bounds: enough to decide on, short enough for a chat message

    @model_validator(mode="after")
    def _summary_does_not_identify_the_child(self) -> RegisterReferral:
        found = disclosure.part_a_findings(self.panel_summary, self.child.model_dump())
        if found:
            raise PydanticCustomError(
                "identifying", disclosure.findings_message("panel_summary", found), {"fields": ["panel_summary"]}
            )
        return self


RecordMethod = Literal["phone", "email", "meeting"]
RECORD_METHODS: dict[str, str] = {"phone": "by phone", "email": "by e-mail", "meeting": "in a meeting"}


class OnBehalf(BaseModel):
    """What a person said by phone, by e-mail or in a meeting, recorded for them by the Business
    Manager: `by` records it, `on_behalf_of` is whose it is. The flow checks both people."""

    on_behalf_of: str | None = None
    method: RecordMethod | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> OnBehalf:
        if (self.on_behalf_of is None) != (self.method is None):
            missing = "method" if self.method is None else "on_behalf_of"
            raise PydanticCustomError(
                "on_behalf", "say whose this is and how they gave it (phone, e-mail or meeting)", {"fields": [missing]}
            )
        return self


class CastVote(Command, OnBehalf):
    ref: Ref
    pathway: Pathway
    notifiable: bool
    rationale: Rationale
    abuse_nature: SharedText | None = None
    harm_basis: SharedText | None = None

    @model_validator(mode="after")
    def _rapid_review_needs_grounds(self) -> CastVote:
        if self.pathway is Pathway.RAPID_REVIEW:
            missing = [f for f in ("abuse_nature", "harm_basis") if not getattr(self, f)]
            if missing:
                raise PydanticCustomError(
                    "rapid_review_grounds",
                    "a Rapid Review vote must state the nature of the abuse or neglect and how the "
                    "serious-harm criteria are met",
                    {"fields": missing},
                )
        return self


class RecordScrutiny(Command, OnBehalf):
    ref: Ref
    verdict: Literal["concur", "disagree"]
    comment: SharedText | None = None

    @model_validator(mode="after")
    def _disagree_says_why(self) -> RecordScrutiny:
        if self.verdict == "disagree" and not (self.comment and len(self.comment) >= 10):
            raise PydanticCustomError(
                "comment_needed", "a disagreement needs a comment of at least 10 characters", {"fields": ["comment"]}
            )
        return self


class RecordConsultation(Command):
    ref: Ref
    pathway: Pathway
    notifiable: bool
    rationale: Rationale
    how: Short = "consultation with the Executive Chair / Independent Scrutineer"


class RecordReferrerAnswer(Command):
    ref: Ref
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=10000), Shareable]


class RecordNotificationSent(Command):
    ref: Ref
    sent_at: dt.datetime | None = None  # default now


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Validation errors keyed by the form field they belong to (first error per field)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        fields = (err.get("ctx") or {}).get("fields") or [".".join(str(p) for p in err["loc"]) or "form"]
        for name in fields:
            out.setdefault(name, _readable(err))
    return out


def _readable(err: dict) -> str:
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "string_too_short":
        return f"Please write at least {err['ctx']['min_length']} characters."
    if err["type"] == "string_too_long":
        return f"Please keep this under {err['ctx']['max_length']} characters."
    if err["type"] == "missing":
        return "This is required."
    return msg[0].upper() + msg[1:] + ("" if msg.endswith(".") else ".")


# --- timelines: milestones, delays, a local CSPR's dates, complaints ----------------------

Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=96)]


class MarkDone(Command, OnBehalf):
    """Mark an obligation done: its owner, or the Business Manager recording what happened."""

    ref: Ref
    key: Key  # the obligation's key; `templates` stands for `rr:templates`, `agency_return` for one's own
    note: SharedText | None = None


class RecordDelay(Command):
    ref: Ref
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=3000), Shareable]
    expected: dt.date


class RecordCspr(Command):
    """A local CSPR: the date it was decided on, and (now or later) its publication date."""

    ref: Ref
    decided_on: dt.date | None = None
    publication_on: dt.date | None = None
    reviewer: Short | None = None  # the independent reviewer, when appointed

    @model_validator(mode="after")
    def _something(self) -> RecordCspr:
        if self.decided_on is None and self.publication_on is None and self.reviewer is None:
            raise PydanticCustomError(
                "cspr_dates", "give the decision date, the publication date or both", {"fields": ["decided_on"]}
            )
        return self


class RecordComplaint(Command):
    ref: Ref
    received_on: dt.date | None = None  # default today
    summary: Annotated[Short, Shareable] = Field(default="", description="a few words, nothing that identifies anyone")


# --- after screening: the Rapid Review's outcome, sign-off, submission, actions, reconsideration --

Recommendation = Literal["local_cspr", "national_review", "no_review"]
RECOMMENDATION_LABELS: dict[str, str] = {
    "local_cspr": "Local child safeguarding practice review",
    "national_review": "National review (for the National Panel to decide)",
    "no_review": "No further review",
}
Evidence = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=RATIONALE_MAX), Shareable]
Learning = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=10000), Shareable]


class RecordOutcome(Command):
    """The Rapid Review's outcome after the Day 13 meeting (003, 004): the Rapid Review chair or the
    Business Manager records it; it is the write-up the three partners sign off."""

    ref: Ref
    immediate_actions: Learning  # immediate actions needed, and those already taken
    single_agency_learning: Learning
    multi_agency_learning: Learning
    cspr_criteria_met: bool  # whether the criteria for a local CSPR are met
    recommendation: Recommendation
    no_review_reason: SharedText | None = None  # 003: the summary of why, when no review is recommended
    wider_system_issues: bool  # whether the case may indicate wider system problems
    summary: Rationale  # the decision summary the DSPs and the scrutineer are told

    @model_validator(mode="after")
    def _why_no_review(self) -> RecordOutcome:
        if self.recommendation == "no_review" and not (self.no_review_reason and len(self.no_review_reason) >= 20):
            raise PydanticCustomError(
                "no_review_reason",
                "say why no review is recommended (at least 20 characters)",
                {"fields": ["no_review_reason"]},
            )
        return self


class SignOff(Command):
    """One agency's answer on the Rapid Review report: agree, or ask for amendments (with a comment)."""

    ref: Ref
    verdict: Literal["agree", "amend"]
    comment: SharedText | None = None

    @model_validator(mode="after")
    def _amend_says_what(self) -> SignOff:
        if self.verdict == "amend" and not (self.comment and len(self.comment) >= 10):
            raise PydanticCustomError(
                "comment_needed", "say which amendments you ask for (at least 10 characters)", {"fields": ["comment"]}
            )
        return self


class RecordSubmission(Command):
    """The Business Manager sent the agreed Rapid Review report to the National Panel."""

    ref: Ref
    submitted_at: dt.datetime | None = None  # default now
    note: Text | None = None


class AddAction(Command):
    """An action arising from a Rapid Review, an audit & assurance decision or a CSPR (003: "monitor
    actions arising ... to ensure completion")."""

    ref: Ref
    what: Evidence
    agency: Short  # the owning agency's key (`la`, `police`, `health`)
    owner: Short  # the named person: a roster id (chased directly) or a name (chased through the agency lead)
    due: dt.date


class Reconsider(Command):
    """The National Panel asked the partnership to reconsider, or new information emerged (003)."""

    ref: Ref
    reason: Evidence
    source: Literal["national_panel", "new_information"] = "national_panel"


class RecordScrutinyMeeting(Command):
    """The outcome of the panel's meeting with the scrutineer after a disagreement (003)."""

    ref: Ref
    outcome: Literal["decision_stands", "decision_changed"]
    rationale: Rationale


class ResendMessage(Command):
    """Send a message that failed once more (the Business Manager, from the case page)."""

    ref: Ref
    message_id: int = Field(ge=1)
