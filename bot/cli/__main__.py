"""`python -m bot.cli`: the same as the installed `panelbot` command."""

from bot.cli import main

main()
