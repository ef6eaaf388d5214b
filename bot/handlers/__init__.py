"""One package per platform, each holding both directions, what comes in and what goes out: `slack`,
`teams`, `graph` (mail and calendar, out only). Each imports the neutral core, never another platform;
only `bot.runtime`, `bot.server` and `bot.cli` put them together."""
