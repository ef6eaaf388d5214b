"""Defaults that need nothing imported: the settings read them without loading SQLAlchemy."""

DEFAULT_URL = "sqlite+aiosqlite:///panelbot.db"
