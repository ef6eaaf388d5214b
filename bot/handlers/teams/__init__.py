"""Microsoft Teams through the Microsoft 365 Agents SDK: the agent at /api/messages (`agent`), Adaptive
Cards (`cards`), the app registration (`connection`), conversation references (`references`), and the
proactive outbox sender (`sender`)."""
