"""Slack: the Bolt listeners (`listeners`), Block Kit for messages (`blocks`) and forms (`modals`), the
App Home (`home`), and the outbox sender (`sender`)."""
