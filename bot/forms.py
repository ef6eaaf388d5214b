"""Neutral form definitions: what a person fills in. Slack renders them as modals, Teams as
Adaptive Card inputs; both submit `{field name: string}` back through `bot.interactions`."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.flows.commands import RATIONALE_MAX, RATIONALE_MIN, RECOMMENDATION_LABELS
from bot.flows.screening.tally import PATHWAY_LABELS


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # choice | yes_no | text | multiline | date | datetime
    required: bool = True
    options: tuple[tuple[str, str], ...] = ()  # (value, label), for choice
    min_length: int | None = None
    max_length: int | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    submit: str
    fields: tuple[Field, ...] = field(default_factory=tuple)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


NOTIFIABLE = Field("notifiable", "Notifiable to the National Panel?", "yes_no")
PATHWAY_OPTIONS = tuple((p.value, label) for p, label in PATHWAY_LABELS.items())

VOTE = Form(
    "vote",
    "Screening vote",
    "Record vote",
    (
        Field("pathway", "Pathway", "choice", options=PATHWAY_OPTIONS),
        NOTIFIABLE,
        Field(
            "rationale", "Rationale for the decision", "multiline", min_length=RATIONALE_MIN, max_length=RATIONALE_MAX
        ),
        Field(
            "abuse_nature",
            "Nature of the known or suspected abuse or neglect (Rapid Review)",
            "multiline",
            required=False,
            max_length=RATIONALE_MAX,
            hint="Required for a Rapid Review vote (Part B 2.2 a).",
        ),
        Field(
            "harm_basis",
            "How the serious-harm criteria were judged (Rapid Review)",
            "multiline",
            required=False,
            max_length=RATIONALE_MAX,
            hint="Required for a Rapid Review vote (Part B 2.2 b).",
        ),
    ),
)

DISAGREE = Form(
    "scrutiny_disagree",
    "Disagree with the outcome",
    "Send",
    (Field("comment", "Why do you disagree?", "multiline", min_length=10, max_length=RATIONALE_MAX),),
)

CONSULTATION = Form(
    "consultation",
    "Consultation outcome",
    "Record outcome",
    (
        Field("pathway", "Pathway agreed", "choice", options=PATHWAY_OPTIONS),
        NOTIFIABLE,
        Field("rationale", "Rationale", "multiline", min_length=RATIONALE_MIN, max_length=RATIONALE_MAX),
        Field(
            "how",
            "How the consultation was held",
            "text",
            required=False,
            max_length=200,
            hint="e.g. phone call with the Executive Chair, 14:00",
        ),
    ),
)

REFERRER_ANSWER = Form(
    "referrer_answer",
    "Referrer's answer",
    "Record and re-open voting",
    (Field("text", "What the referrer said", "multiline", min_length=5, max_length=10000),),
)

MILESTONE_DONE = Form(
    "milestone_done",
    "Mark done",
    "Mark done",
    (Field("note", "Note (what happened)", "multiline", required=False, max_length=RATIONALE_MAX),),
)

DELAY = Form(
    "rapid_review_delay",
    "Record a Rapid Review delay",
    "Record delay",
    (
        Field("reason", "Why the Rapid Review will be late", "multiline", min_length=10, max_length=RATIONALE_MAX),
        Field("expected", "Expected completion date", "date", hint="The National Panel is told this date."),
    ),
)

RECOMMENDATION_OPTIONS = tuple(RECOMMENDATION_LABELS.items())
LEARNING_MAX = 10000

OUTCOME = Form(
    "rapid_review_outcome",
    "Rapid Review outcome",
    "Record outcome",
    (
        Field(
            "immediate_actions",
            "Immediate actions needed, and those already taken",
            "multiline",
            min_length=5,
            max_length=LEARNING_MAX,
        ),
        Field("single_agency_learning", "Single-agency learning", "multiline", min_length=5, max_length=LEARNING_MAX),
        Field("multi_agency_learning", "Multi-agency learning", "multiline", min_length=5, max_length=LEARNING_MAX),
        Field("cspr_criteria_met", "Are the criteria for a local CSPR met?", "yes_no"),
        Field("recommendation", "Recommendation", "choice", options=RECOMMENDATION_OPTIONS),
        Field(
            "no_review_reason",
            "If no review: the summary of why",
            "multiline",
            required=False,
            max_length=RATIONALE_MAX,
            hint="Required when the recommendation is no further review (003).",
        ),
        Field("wider_system_issues", "May the case indicate wider system problems?", "yes_no"),
        Field(
            "summary",
            "Decision summary for the partners and the scrutineer (no names)",
            "multiline",
            min_length=RATIONALE_MIN,
            max_length=RATIONALE_MAX,
        ),
    ),
)

SIGNOFF_AMEND = Form(
    "signoff_amend",
    "Ask for amendments",
    "Send",
    (Field("comment", "Which amendments do you ask for?", "multiline", min_length=10, max_length=RATIONALE_MAX),),
)

REFERRAL = Form(
    "referral",
    "New referral",
    "Register",
    (
        Field(
            "received_at",
            "Received (date and time)",
            "datetime",
            required=False,
            hint="Leave empty for now; London time.",
        ),
        Field("incident_date", "Date of incident", "date", required=False),
        Field("referrer_name", "Referrer's name", "text", max_length=200),
        Field("referrer_role", "Referrer's role", "text", required=False, max_length=200),
        Field("referrer_agency", "Referrer's agency", "text", required=False, max_length=200),
        Field("referrer_email", "Referrer's e-mail", "text", required=False, max_length=200),
        Field(
            "panel_summary",
            "Summary for the panel (no names, no addresses)",
            "multiline",
            min_length=20,
            max_length=RATIONALE_MAX,
            hint="This is what panel members see in chat.",
        ),
    ),
)

FORMS = {
    f.name: f
    for f in (VOTE, DISAGREE, CONSULTATION, REFERRER_ANSWER, MILESTONE_DONE, DELAY, REFERRAL, OUTCOME, SIGNOFF_AMEND)
}
