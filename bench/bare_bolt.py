"""The floor for bench_burst.py: a bare Bolt app on aiohttp that answers the same signed requests as
`panelbot serve` does, doing nothing else (a click acks and opens a modal; a submission acks with an
updated view). Run by bench_burst.py:  python bench/bare_bolt.py PORT SLACK_API_URL
"""

from __future__ import annotations

import re
import sys
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

SIGNING_SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
DONE = {"type": "modal", "title": {"type": "plain_text", "text": "Done"}, "blocks": []}


def build(api_url: str) -> web.Application:
    client = AsyncWebClient(token=TOKEN, base_url=api_url.rstrip("/") + "/")
    bolt = AsyncApp(client=client, signing_secret=SIGNING_SECRET, name="bare")

    @bolt.action(re.compile(".*"))
    async def click(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=DONE)

    @bolt.view_submission(re.compile(".*"))
    async def submit(ack: Any) -> None:
        await ack(response_action="update", view=DONE)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    return app


if __name__ == "__main__":
    web.run_app(build(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), print=None)
