"""Graph mail at most once: a draft tagged with the outbox key, its id noted on the row, then sent;
a retry after an answer lost at any step looks before it sends again. Through the real msgraph-sdk
against the fake Graph on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from bot.handlers.graph.client import OUTBOX_KEY_PROPERTY
from storage.models import OutboxMessage
from tests.test_graph_channels import delivery, fake_graph, graph, outbox, refer  # noqa: F401 (fixtures)


async def mail_rows(service) -> list[OutboxMessage]:
    return await outbox(service, OutboxMessage.channel == "email")


@pytest.mark.parametrize("step", ["create", "tag", "send", "find"])
async def test_a_lost_answer_at_any_step_sends_each_mail_once(service, graph, fake_graph, step: str) -> None:  # noqa: F811
    await refer(service)
    fake_graph.lost_answers[step] = [503]
    if step == "find":  # the look-up only runs on a retry: make there be one
        fake_graph.lost_answers["send"] = [503]
    await delivery(service, graph).run_once()
    for _ in range(4):  # a fresh sender each time, as after a restart: it knows only what the row says
        service.clock.advance(dt.timedelta(minutes=5))
        await delivery(service, graph).drain()
    rows = await mail_rows(service)
    assert rows and all(r.state == "sent" for r in rows), [(r.key, r.state, r.last_error) for r in rows]
    sent = Counter((m.to[0], m.subject) for m in fake_graph.mails)
    assert sent == Counter((r.address, r.payload["title"]) for r in rows)  # each once, none twice
    for row in rows:
        assert len(fake_graph.sent_with_key(row.key)) == 1
        assert row.external_ref["mailbox"] == "tscp@tameside.gov.uk"


async def test_the_draft_id_is_noted_before_sending_and_the_key_tagged(service, graph, fake_graph) -> None:  # noqa: F811
    await refer(service)
    fake_graph.mail_failures.append((503, None))  # the first send fails: the row keeps its note
    await delivery(service, graph).run_once()
    [waiting] = [r for r in await mail_rows(service) if r.state == "pending"]
    draft = fake_graph.messages[waiting.external_ref["draft_id"]]
    assert draft["isDraft"] and draft["props"] == {OUTBOX_KEY_PROPERTY: waiting.key}
    service.clock.advance(dt.timedelta(minutes=5))
    await delivery(service, graph).drain()
    [row] = [r for r in await mail_rows(service) if r.id == waiting.id]
    assert row.state == "sent" and row.external_ref["draft_id"] == waiting.external_ref["draft_id"]
    assert len(fake_graph.sent_with_key(row.key)) == 1
    assert not [m for m in fake_graph.messages.values() if m["isDraft"] and row.key in m["props"].values()]


async def test_a_noted_draft_that_left_the_mailbox_counts_as_sent(service, graph, fake_graph) -> None:  # noqa: F811
    """Sent, then the answer lost, and Sent Items not (yet) showing it: the draft's absence is the proof."""
    await refer(service)
    fake_graph.lost_answers["send"] = [503]
    await delivery(service, graph).run_once()
    [waiting] = [r for r in await mail_rows(service) if r.state == "pending"]
    for message in fake_graph.messages.values():
        message["props"].clear()  # as if the search index had not caught up with the sent copy
    service.clock.advance(dt.timedelta(minutes=5))
    await delivery(service, graph).drain()
    [row] = [r for r in await mail_rows(service) if r.id == waiting.id]
    assert row.state == "sent" and row.external_ref["found"] == "draft sent"
    assert Counter(m.to[0] for m in fake_graph.mails)[row.address] == 1
