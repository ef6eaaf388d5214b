"""Block Kit rendering: Slack's limits kept (blocks, fields, lengths), user text escaped, action ids
unique and parsed back, every neutral form renderable as a modal."""

from __future__ import annotations

import json

import pytest

from bot.forms import FORMS, VOTE
from bot.handlers.slack.blocks import parse_action_id, render_message, short_label
from bot.handlers.slack.modals import FormContext, modal_errors, render_modal
from bot.messages import Action, ActionId, Fact, Message
from tests.fakes.slack_workspace import input_blocks


def message(**kw: object) -> Message:
    fields: dict[str, object] = {"kind": "test", "ref": "TSCP-2026-001", "title": "TSCP-2026-001: a test"}
    return Message.model_validate(fields | kw)


def test_a_message_with_too_many_facts_stays_under_50_blocks() -> None:
    facts = [Fact(label=f"Short {i}", value="yes") for i in range(300)]
    facts += [Fact(label=f"Long {i}", value="x" * 500) for i in range(60)]
    actions = [Action(id=ActionId.CONCUR, label="Concur", value="TSCP-2026-001")]
    blocks = render_message(message(text="Summary", facts=facts, actions=actions))
    assert len(blocks) == 50
    assert blocks[-1]["type"] == "actions"  # the buttons survive the cut
    assert "/panel show TSCP-2026-001" in blocks[-2]["elements"][0]["text"]
    assert all(len(b.get("fields", [])) <= 10 for b in blocks)


def test_long_values_are_cut_to_slacks_limits() -> None:
    blocks = render_message(
        message(
            title="T" * 400,
            text="y" * 5000,
            facts=[Fact(label="Rationale", value="z" * 5000), Fact(label="Short", value="ok")],
        )
    )
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("…")
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section" and "text" in b)
    assert all(len(f["text"]) <= 2000 for b in blocks for f in b.get("fields", []))


def test_user_text_cannot_mention_everyone_or_fake_links() -> None:
    blocks = render_message(message(text="<!channel> see <http://evil.example|this> & that"))
    text = blocks[1]["text"]["text"]
    assert "<" not in text and ">" not in text
    assert text == "&lt;!channel&gt; see &lt;http://evil.example|this&gt; &amp; that"


def test_vote_buttons_get_unique_action_ids_that_parse_back() -> None:
    actions = [
        Action(id=ActionId.VOTE, label=label, value=f"TSCP-2026-001|{p}")
        for p, label in [("rapid_review", "Rapid Review"), ("audit_assurance", "Audit & assurance")]
    ] + [Action(id=ActionId.CHANGE_VOTE, label="Change vote", value="TSCP-2026-001")]
    [block] = [b for b in render_message(message(actions=actions)) if b["type"] == "actions"]
    ids = [e["action_id"] for e in block["elements"]]
    assert ids == ["panel-vote:rapid_review", "panel-vote:audit_assurance", "panel-vote-change"]
    assert [parse_action_id(i) for i in ids] == [ActionId.VOTE, ActionId.VOTE, ActionId.CHANGE_VOTE]
    assert [e["text"]["text"] for e in block["elements"]] == ["Rapid Review", "Audit & assurance", "Change vote"]


def test_more_than_25_buttons_use_several_actions_blocks() -> None:
    actions = [Action(id=ActionId.MILESTONE_DONE, label=f"Done {i}", value=f"R|k{i}") for i in range(30)]
    blocks = [b for b in render_message(message(actions=actions)) if b["type"] == "actions"]
    assert [len(b["elements"]) for b in blocks] == [25, 5]
    assert len({e["action_id"] for b in blocks for e in b["elements"]}) == 30


@pytest.mark.parametrize("name", sorted(FORMS))
def test_every_form_renders_as_a_valid_modal(name: str) -> None:
    form = FORMS[name]
    view = render_modal(form, FormContext(form.name, "TSCP-2026-001"))
    assert len(view["blocks"]) <= 100
    assert 1 <= len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
    assert FormContext.load(view["private_metadata"]).form == name
    shown = input_blocks(view)
    for field in form.fields:
        if field.name in shown:
            block = shown[field.name]
            assert block["element"]["action_id"] == field.name
            assert block.get("optional", False) is (not field.required)
    json.dumps(view)


def test_vote_modal_shows_rapid_review_grounds_only_for_rapid_review() -> None:
    context = FormContext("vote", "TSCP-2026-001")
    plain = input_blocks(render_modal(VOTE, context, {"pathway": "audit_assurance"}))
    rapid = input_blocks(render_modal(VOTE, context, {"pathway": "rapid_review"}))
    assert "abuse_nature" not in plain and {"abuse_nature", "harm_basis"} <= set(rapid)
    assert plain["pathway"]["dispatch_action"] is True
    assert rapid["notifiable"]["element"]["type"] == "radio_buttons"
    assert rapid["rationale"]["element"]["multiline"] is True


def test_hidden_values_travel_in_private_metadata() -> None:
    context = FormContext("milestone_done", "TSCP-2026-001")
    view = render_modal(FORMS["milestone_done"], context, {"key": "agency_return:police"})
    assert dict(FormContext.load(view["private_metadata"]).hidden) == {"key": "agency_return:police"}


def test_errors_about_fields_the_modal_lacks_go_on_its_first_input() -> None:
    view = render_modal(VOTE, FormContext("vote", "R"), {"pathway": "no_further_action"})
    errors = modal_errors({"rationale": "Too short.", "harm_basis": "Needed."}, view)
    assert errors == {"rationale": "Too short.", "pathway": "harm basis: Needed."}


def test_short_labels_cut_at_a_word() -> None:
    assert short_label("Record and re-open voting") == "Record and re-open"
    assert short_label("Supercalifragilisticexpialidocious") == "Supercalifragilisticexpi"
