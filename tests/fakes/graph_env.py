"""A Graph client for tests: the real msgraph-sdk client and azure-identity credential, pointed
at the fake Graph and the fake authority on 127.0.0.1 (trusting only the fake's test CA)."""

from __future__ import annotations

from azure.core.pipeline.transport import AioHttpTransport

from bot.handlers.graph.client import GraphClient
from bot.settings import Settings
from tests.fakes.graph import FakeGraph


def graph_settings(fake: FakeGraph, **more: object) -> Settings:
    return Settings.model_validate({**fake.settings(), **more})


def graph_client(fake: FakeGraph) -> GraphClient:
    return GraphClient.from_settings(graph_settings(fake), transport=AioHttpTransport(connection_verify=fake.ca_path))
