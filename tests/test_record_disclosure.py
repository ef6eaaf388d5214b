"""Free text bound for chat or e-mail may not identify the child: NHS numbers and postcodes by their
shape, and the case's own Part A (names, date of birth, address). The refusal names the field and
the kind of detail, and never repeats the detail."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from bot import interactions
from bot.flows import disclosure
from bot.flows.commands import CastVote, RegisterReferral, field_errors
from bot.flows.personal import Identifying
from bot.flows.screening import panel
from bot.service import Service
from tests.helpers import SUMMARY, outbox, refer, vote

CHILD = {
    "forenames": "Zebedee Amy",
    "last_name": "Quixotic",
    "date_of_birth": dt.date(2019, 3, 7),
    "home_address": "14 Secret Lane, Ashton-under-Lyne, OL6 6JB",
}
FILLER = " The panel should look at the agencies' contact over the last year."


@pytest.mark.parametrize(
    "text, found",
    [
        ("NHS no 943 476 5919 on the discharge letter", ["an NHS number"]),
        ("NHS 9434765919", ["an NHS number"]),
        ("reference 943 476 5918 only", []),  # wrong check digit: not an NHS number
        ("lives near OL6 6JB", ["a postcode"]),
        ("moved to sw1a 1aa last spring", ["a postcode"]),
        ("seen in M1 twice in 2024, 12 visits", []),
        ("943-476-5919 and M1 1AE", ["an NHS number", "a postcode"]),
    ],
)
def test_patterns_by_shape(text: str, found: list[str]):
    assert disclosure.pattern_findings(text) == found


@pytest.mark.parametrize(
    "text, found",
    [
        ("Zebedee was seen at A&E", ["the child's name"]),
        ("the QUIXOTIC family were known", ["the child's name"]),
        ("Amy attended nursery", ["the child's name"]),
        ("amy of the staff said", []),  # a short name counts only as written
        ("born 07/03/2019, seen twice", ["the child's date of birth"]),
        ("born 7.3.19", ["the child's date of birth"]),
        ("born on 7th March 2019", ["the child's date of birth"]),
        ("DOB March 7, 2019", ["the child's date of birth"]),
        ("DOB 2019-03-07", ["the child's date of birth"]),
        ("seen on 7 March 2020", []),
        ("the house on secret lane", ["the child's address"]),
        ("at 14 Secret Lane", ["the child's address"]),
        ("a family in Ashton-under-Lyne", []),  # the town alone does not identify
        ("A young child was admitted with an unexplained injury", []),
    ],
)
def test_part_a_by_content(text: str, found: list[str]):
    assert disclosure.part_a_findings(text, CHILD) == found


def test_placeholder_words_in_part_a_do_not_make_ordinary_words_names():
    child = {"forenames": "(kept in the case store only)", "last_name": "(never shown in chat)"}
    assert disclosure.part_a_findings("A pre-school child; the family is known to early help.", child) == []


def test_the_message_names_field_and_kind_never_the_detail():
    message = disclosure.findings_message("panel_summary", ["the child's name", "a postcode"])
    assert "panel summary" in message and "the child's name and a postcode" in message
    assert "Zebedee" not in message and "OL6" not in message


def test_a_command_refuses_a_postcode_in_a_rationale_before_any_database_work():
    with pytest.raises(ValidationError) as caught:
        CastVote(
            by="la-dsp",
            ref="TSCP-1",
            pathway="no_further_action",
            notifiable=False,
            rationale="The family moved to OL6 6JB and are now supported." + FILLER,
        )
    errors = field_errors(caught.value)
    assert set(errors) == {"rationale"} and "a postcode" in errors["rationale"] and "OL6" not in errors["rationale"]


def test_a_referral_summary_may_not_repeat_its_own_part_a():
    with pytest.raises(ValidationError) as caught:
        RegisterReferral(
            by="bm",
            referrer={"name": "Dr A"},
            child=CHILD,
            panel_summary="Zebedee was admitted with an unexplained serious injury." + FILLER,
        )
    errors = field_errors(caught.value)
    assert "the child's name" in errors["panel_summary"] and "Zebedee" not in errors["panel_summary"]
    assert RegisterReferral(by="bm", referrer={"name": "Dr A"}, child=CHILD, panel_summary=SUMMARY)


async def test_a_vote_naming_the_child_is_refused_and_nothing_is_recorded(service: Service):
    case = await refer(service)
    before = len(await outbox(service))
    with pytest.raises(Identifying) as caught:
        await vote(
            service,
            "la-dsp",
            case.ref,
            "no_further_action",
            rationale="Quixotic household: no concerns beyond early help." + FILLER,
        )
    assert caught.value.details["field"] == "rationale" and "Quixotic" not in caught.value.message
    assert len(await outbox(service)) == before
    assert (await vote(service, "la-dsp", case.ref, "no_further_action")).status == "recorded"


async def test_every_front_gets_the_refusal_beside_the_field(service: Service):
    case = await refer(service)
    reply = await interactions.submit(
        service,
        "vote",
        "health-dsp",
        case.ref,
        {
            "pathway": "no_further_action",
            "notifiable": "no",
            "rationale": "Seen at home, 1 Secret Lane, by the health visitor; no injuries." + FILLER,
        },
    )
    assert not reply.ok and set(reply.errors) == {"rationale"}
    assert "the child's address" in reply.text and "Secret" not in reply.text
    reply = await interactions.submit(
        service,
        "vote",
        "health-dsp",
        case.ref,
        {"pathway": "no_further_action", "notifiable": "no", "rationale": "NHS number 943 476 5919." + FILLER},
    )
    assert not reply.ok and "an NHS number" in reply.errors["rationale"] and "5919" not in reply.errors["rationale"]


async def test_scrutiny_comment_and_delay_reason_are_checked_too(service: Service):
    case = await refer(service)
    for who in ("la-dsp", "police-dsp", "health-dsp"):
        await vote(service, who, case.ref, "no_further_action")
    from bot.flows.commands import RecordScrutiny

    with pytest.raises(Identifying, match="comment contains the child's name"):
        await service.run(
            panel.record_scrutiny,
            RecordScrutiny(
                by="scrutineer", ref=case.ref, verdict="disagree", comment="Zebedee's injuries need a Rapid Review."
            ),
        )
