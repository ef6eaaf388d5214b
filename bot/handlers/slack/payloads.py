"""Reading what Slack posts, defensively: a validly signed payload may still be malformed (a bug on
Slack's side, a proxy, or someone holding the signing secret). Whatever is missing or of the wrong
shape raises `Malformed`, which the listeners' error handler answers with 400, logged once, before
anything is changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_ID = 255  # user, view and trigger ids are short; anything longer is not Slack's
MAX_VALUE = 2000  # Slack's limit on a button's value
MAX_METADATA = 3000  # Slack's limit on a view's private_metadata


class Malformed(ValueError):
    """A payload that is not what Slack sends; `what` names the part, for the log."""

    def __init__(self, what: str) -> None:
        super().__init__(f"malformed Slack payload: {what}")
        self.what = what


def at(data: Any, *path: str) -> Any:
    """The value at `path` in nested dicts, or None where any step is missing or not a dict."""
    node = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def text(data: Any, *path: str, limit: int = MAX_ID) -> str:
    """A required, non-empty string at `path`."""
    value = at(data, *path)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Malformed("/".join(path))
    return value


def optional_text(data: Any, *path: str, limit: int = MAX_VALUE) -> str:
    """A string at `path`, or "" when absent; any other type is malformed."""
    value = at(data, *path)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise Malformed("/".join(path))
    return value


def mapping(data: Any, *path: str) -> dict[str, Any]:
    """A dict at `path`, or {} when absent; any other type is malformed."""
    value = at(data, *path)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed("/".join(path))
    return value


# What Bolt itself reads from a payload before any listener runs (routing, its context), by path:
# where present, each must be of these types, or Bolt raises deep inside and answers 500.
STR, DICT, LIST = (str,), (dict,), (list,)
ENVELOPE: dict[tuple[str, ...], tuple[type, ...]] = {
    ("type",): STR,
    ("token",): STR,
    ("command",): STR,
    ("text",): STR,
    ("user_id",): STR,
    ("team_id",): STR,
    ("channel_id",): STR,
    ("enterprise_id",): STR,
    ("trigger_id",): STR,
    ("response_url",): STR,
    ("api_app_id",): STR,
    ("team",): (dict, str, type(None)),
    ("team", "id"): STR,
    ("team", "enterprise_id"): (str, type(None)),
    ("user",): (dict, str),
    ("user", "id"): STR,
    ("user", "team_id"): STR,
    ("enterprise",): (dict, type(None)),
    ("channel",): (dict, str),
    ("channel", "id"): STR,
    ("container",): DICT,
    ("message",): DICT,
    ("previous_message",): DICT,
    ("item",): DICT,
    ("assistant_thread",): DICT,
    ("function_data",): DICT,
    ("authorizations",): LIST,
    ("response_urls",): LIST,
    ("actions",): LIST,
    ("view",): DICT,
    ("view", "id"): STR,
    ("view", "type"): STR,
    ("view", "callback_id"): STR,
    ("view", "team_id"): STR,
    ("view", "app_installed_team_id"): STR,
    ("event",): DICT,
    ("event", "type"): STR,
    ("event", "user"): (str, dict),
    ("event", "channel"): (str, dict),
    ("event", "tab"): STR,
    ("event", "message"): DICT,
    ("event", "previous_message"): DICT,
    ("event", "item"): DICT,
}
HANDLED_TYPES = frozenset({"block_actions", "view_submission", "view_closed", "event_callback", "url_verification"})


def envelope_problem(body: dict[str, Any]) -> str | None:
    """Why Bolt could not route this payload safely, or None. Slash commands carry no `type`."""
    for path, types in ENVELOPE.items():
        value = at(body, *path[:-1]) if len(path) > 1 else body
        if isinstance(value, dict) and path[-1] in value and not isinstance(value[path[-1]], types):
            return "/".join(path)
    kind = body.get("type")
    if kind is not None and kind not in HANDLED_TYPES:
        return f"type {kind[:40]!r}"
    for name in ("authorizations", "response_urls"):
        if not all(isinstance(item, dict) for item in body.get(name) or []):
            return name
    for item in body.get("authorizations") or []:
        if any(k in item and not isinstance(item[k], str | None) for k in ("team_id", "enterprise_id", "user_id")):
            return "authorizations"
    if kind == "block_actions":
        actions = body.get("actions")
        if not actions or not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            return "actions"
    if kind in ("view_submission", "view_closed") and not isinstance(at(body, "view", "callback_id"), str):
        return "view/callback_id"
    if kind == "event_callback" and not isinstance(at(body, "event", "type"), str):
        return "event/type"
    return None


def raised_by_bolt(error: BaseException) -> bool:
    """A lookup error raised inside Bolt's own routing, before any listener ran: the payload's shape."""
    if not isinstance(error, KeyError | IndexError | TypeError | AttributeError):
        return False
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "slack_bolt" in Path(tb.tb_frame.f_code.co_filename).parts
