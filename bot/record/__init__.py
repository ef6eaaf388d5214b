"""The record: the audit trail read back (verify, export), the case PDF, the annual figures, retention."""
