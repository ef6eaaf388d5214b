"""What follows the decision and what keeps people to time: obligations and who owes them
(`obligations`), the chase ladder and digest (`chasing`), the Rapid Review plan, delays, CSPR and
complaints (`plan`), and their messages (`notices`)."""
