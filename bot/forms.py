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
    section: str | None = None  # a heading the web form shows above this field (Part A's numbered parts)


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

CSPR = Form(
    "cspr",
    "Local CSPR dates",
    "Record dates",
    (
        Field("decided_on", "Date the local CSPR was decided on", "date", required=False),
        Field(
            "publication_on",
            "Planned publication date",
            "date",
            required=False,
            hint="The copy to the National Panel and the Secretary of State falls due 7 working days before.",
        ),
    ),
)

COMPLAINT = Form(
    "complaint",
    "Record a complaint",
    "Record complaint",
    (
        Field("received_on", "Date the complaint was received", "date", required=False, hint="Leave empty for today."),
        Field(
            "summary",
            "A few words about it",
            "text",
            required=False,
            max_length=200,
            hint="Nothing that identifies anyone: this shows in reminders.",
        ),
    ),
)

SCRUTINY_RECORD = Form(
    "scrutiny_record",
    "Record a scrutiny view",
    "Record view",
    (
        Field(
            "verdict", "Their view of the outcome", "choice", options=(("concur", "Concur"), ("disagree", "Disagree"))
        ),
        Field(
            "comment",
            "What they said",
            "multiline",
            required=False,
            max_length=RATIONALE_MAX,
            hint="Needed for a disagreement (at least 10 characters).",
        ),
    ),
)

FORMS = {
    f.name: f
    for f in (
        VOTE,
        DISAGREE,
        CONSULTATION,
        REFERRER_ANSWER,
        MILESTONE_DONE,
        DELAY,
        REFERRAL,
        OUTCOME,
        SIGNOFF_AMEND,
        CSPR,
        COMPLAINT,
    )
}

# Part A of the referral form (004 Appendix A), every field, as the desk shows it. Section 4 (the
# child's details) is stored apart (`children`) and shown only to `web.part_a_readers`.
_S1, _S2, _S3 = "1. Details of individual making referral", "2. Brief description of event", "3. Abuse"
_S4, _S5 = "4. Details of the child or young person", "5. Work undertaken by the referrer's agency"
_S6, _S7 = "6. Why this case should be reviewed", "7. Additional information"
_SP = "For the panel"
PART_A = Form(
    "part_a",
    "Register a referral (Part A)",
    "Register referral",
    (
        Field("referrer_name", "Name", "text", max_length=200, section=_S1),
        Field("referrer_role", "Role", "text", required=False, max_length=200, section=_S1),
        Field("referrer_agency", "Agency", "text", required=False, max_length=200, section=_S1),
        Field("referrer_phone", "Telephone number", "text", required=False, max_length=64, section=_S1),
        Field(
            "referrer_email",
            "E-mail address",
            "text",
            required=False,
            max_length=200,
            hint="The referrer is told the outcome by e-mail.",
            section=_S1,
        ),
        Field("incident_date", "Date of incident prompting referral", "date", required=False, section=_S1),
        Field(
            "received_at",
            "Date and time referred to the partnership",
            "datetime",
            required=False,
            hint="Leave empty for now; London time.",
            section=_S1,
        ),
        Field("event_description", "Brief description of event leading to referral", "multiline", False, section=_S2),
        Field("abuse_detail", "Detail of the known or suspected abuse", "multiline", False, section=_S3),
        Field("child_last_name", "Last name(s)", "text", required=False, max_length=200, section=_S4),
        Field("child_forenames", "Forename(s)", "text", required=False, max_length=200, section=_S4),
        Field("child_other_names", "Other names used", "text", required=False, max_length=200, section=_S4),
        Field("child_date_of_birth", "Date of birth", "date", required=False, section=_S4),
        Field("child_nhs_number", "NHS number", "text", required=False, max_length=12, section=_S4),
        Field("child_age", "Age (if date of birth not known)", "text", required=False, max_length=32, section=_S4),
        Field("child_gender", "Gender", "text", required=False, max_length=64, section=_S4),
        Field("child_ethnicity", "Ethnicity", "text", required=False, max_length=128, section=_S4),
        Field("child_disability", "Any known disability", "multiline", required=False, section=_S4),
        Field("child_home_address", "Home address", "multiline", required=False, section=_S4),
        Field("child_carers", "Details of parents or carers", "multiline", required=False, section=_S4),
        Field("agency_work", "Brief summary of work undertaken by the agency", "multiline", False, section=_S5),
        Field(
            "review_reason",
            "Why, in the referrer's opinion, should this case be reviewed?",
            "multiline",
            False,
            section=_S6,
        ),
        Field(
            "additional_info",
            "Additional information",
            "multiline",
            required=False,
            hint="For example: is there media interest, are there criminal proceedings?",
            section=_S7,
        ),
        Field(
            "panel_summary",
            "Summary for the panel (no names, no addresses)",
            "multiline",
            min_length=RATIONALE_MIN,
            max_length=RATIONALE_MAX,
            hint="This is what panel members see in chat and on the case page.",
            section=_SP,
        ),
    ),
)

# Forms only the desk shows (too long for a Slack modal, or only for the Business Manager's desk).
WEB_FORMS = {f.name: f for f in (PART_A, SCRUTINY_RECORD)}
ALL_FORMS = {**FORMS, **WEB_FORMS}
