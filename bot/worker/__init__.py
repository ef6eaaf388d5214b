"""What runs on its own: the outbox (`outbox`), reminders (`reminders`) and the ticker that drives both
(`ticker`)."""
