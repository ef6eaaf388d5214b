"""The bot's Entra app registration and the Agents SDK adapter built from it."""

from __future__ import annotations

from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import AgentAuthConfiguration

from bot.settings import Settings, reveal

# --- the SDK connection ---------------------------------------------------------------------


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The bot's Entra app registration, from CONNECTIONS__SERVICE_CONNECTION__SETTINGS__*."""
    return AgentAuthConfiguration(
        client_id=settings.teams_client_id,
        tenant_id=settings.teams_tenant_id,
        client_secret=reveal(settings.teams_client_secret),
        anonymous_allowed=settings.teams_anonymous_allowed,
    )


def connection_manager(config: AgentAuthConfiguration) -> MsalConnectionManager:
    return MsalConnectionManager(connections_configurations={"SERVICE_CONNECTION": config})


def build_adapter(config: AgentAuthConfiguration) -> CloudAdapter:
    return CloudAdapter(connection_manager=connection_manager(config))
