"""Channel senders: one per platform, each turning neutral messages into that platform's calls.

`build_senders` returns a sender for every channel whose credentials are configured; outbox rows
for the other channels stay pending (and /healthz counts them) until one is.
"""

from __future__ import annotations

from bot.delivery import Sender
from bot.service import Service
from bot.settings import Settings


def build_senders(settings: Settings, service: Service) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    if settings.slack_bot_token:
        from bot.channels.slack import SlackSender, sending_client
        from bot.handlers.slack import home_publisher

        client = sending_client(settings.slack_bot_token, settings.slack_api_url)
        senders["slack"] = SlackSender(client, home_publisher(service))
    if settings.teams_enabled:
        from bot.channels.teams import TeamsSender, auth_configuration, build_adapter

        adapter = build_adapter(auth_configuration(settings))
        anonymous = settings.teams_anonymous_allowed
        senders["teams"] = TeamsSender(service, adapter, settings.teams_client_id, anonymous=anonymous)
    if settings.graph_enabled:
        from bot.channels.calendar import CalendarSender
        from bot.channels.email import EmailSender
        from bot.graph import GraphClient

        graph = GraphClient.from_settings(settings)
        partnership = service.cfg.partnership
        senders["email"] = EmailSender(graph, partnership.mailbox, partnership.name)
        senders["calendar"] = CalendarSender(graph, service)
    return senders
