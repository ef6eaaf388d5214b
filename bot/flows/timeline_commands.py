"""Commands for timelines: marking a milestone done, a Rapid Review delay, a local CSPR's dates and
a complaint. Like `bot.flows.commands`, `by` is a roster id from a verified identity."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from bot.flows.commands import Command, Ref, Short, Text

Key = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=96)]


class MarkDone(Command):
    """Mark an obligation done: its owner, or the Business Manager recording what happened."""

    ref: Ref
    key: Key  # the obligation's key; `templates` stands for `rr:templates`, `agency_return` for one's own
    note: Text | None = None


class RecordDelay(Command):
    ref: Ref
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=3000)]
    expected: dt.date


class RecordCspr(Command):
    """A local CSPR: the date it was decided on, and (now or later) its publication date."""

    ref: Ref
    decided_on: dt.date | None = None
    publication_on: dt.date | None = None

    @model_validator(mode="after")
    def _something(self) -> RecordCspr:
        if self.decided_on is None and self.publication_on is None:
            raise PydanticCustomError(
                "cspr_dates", "give the decision date, the publication date or both", {"fields": ["decided_on"]}
            )
        return self


class RecordComplaint(Command):
    ref: Ref
    received_on: dt.date | None = None  # default today
    summary: Short = Field(default="", description="a few words, nothing that identifies anyone")
