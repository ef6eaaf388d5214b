"""panelbot: a safeguarding children partnership's screening panel and Rapid Reviews, in Slack and Teams."""

import logging

# Quiet unless an application (`panelbot serve`) configures logging: no stray warnings in CLI output.
logging.getLogger("panelbot").addHandler(logging.NullHandler())
