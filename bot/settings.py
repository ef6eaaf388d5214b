"""Secrets and endpoints from the environment (never from app.yaml or the repository), read once
at start. Secrets are `SecretStr`, so a log line or a traceback that shows the settings shows `**********`;
`reveal` hands the value to the one client that needs it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.sealing import Keyring
from storage.defaults import DEFAULT_URL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    panelbot_database_url: str = DEFAULT_URL
    panelbot_config: str = "app.yaml"
    panelbot_log_format: Literal["text", "json"] = "text"
    panelbot_metrics_token: SecretStr | None = None  # /metrics needs `Authorization: Bearer <token>`
    panelbot_metrics_port: int | None = None  # or: /metrics alone, without a token, on this port
    panelbot_metrics_host: str = "127.0.0.1"
    panelbot_ready_heartbeat_seconds: float = 60.0  # /readyz: ticker and delivery must have run this recently
    panelbot_ready_outbox_max_age_seconds: float = 900.0  # /readyz: oldest unsent message; 0 = no check

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None  # xapp-…, Socket Mode
    slack_api_url: str | None = None  # Web API base URL override (proxy, tests)

    # Microsoft 365 Agents SDK reads CONNECTIONS__SERVICE_CONNECTION__SETTINGS__* itself.
    teams_client_id: str | None = Field(default=None, alias="CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID")
    teams_client_secret: SecretStr | None = Field(
        default=None, alias="CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET"
    )
    teams_tenant_id: str | None = Field(default=None, alias="CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID")
    teams_anonymous_allowed: bool = Field(default=False, alias="ANONYMOUS_ALLOWED")  # local tests only

    graph_tenant_id: str | None = None
    graph_client_id: str | None = None
    graph_client_secret: SecretStr | None = None
    graph_base_url: str | None = None  # e.g. http://127.0.0.1:8999/v1.0 in tests
    graph_authority_host: str | None = None  # Entra sign-in host for a sovereign cloud (https only)

    panelbot_link_key: SecretStr | None = None  # signs the links in e-mails (bot/flows/links.py); 32+ characters

    panelbot_data_key: SecretStr | None = None  # seals Part A and contact details (bot/sealing.py); newest first

    @property
    def data_keys(self) -> Keyring | None:
        """The data keys, or None; a malformed key raises `DataKeyError` (the CLI and serve say so and stop)."""
        return Keyring.parse(reveal(self.panelbot_data_key))

    @property
    def link_key(self) -> bytes | None:
        key = reveal(self.panelbot_link_key)
        return key.encode("utf-8") if key else None

    # The desk (web front). Dev sign-in ("sign in as" anyone on the roster) is for loopback only.
    panelbot_web_dev_login: bool = False
    panelbot_web_session_key: SecretStr | None = None  # >= 32 characters; shared by replicas
    panelbot_web_oidc_issuer: str | None = None  # https://login.microsoftonline.com/<tenant id>/v2.0
    panelbot_web_oidc_client_id: str | None = None
    panelbot_web_oidc_client_secret: SecretStr | None = None

    @property
    def web_oidc_enabled(self) -> bool:
        return bool(self.panelbot_web_oidc_issuer and self.panelbot_web_oidc_client_id)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)

    @property
    def teams_enabled(self) -> bool:
        return bool(self.teams_client_id and self.teams_client_secret) or self.teams_anonymous_allowed

    @property
    def graph_enabled(self) -> bool:
        return bool(self.graph_tenant_id and self.graph_client_id and self.graph_client_secret)


def reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
