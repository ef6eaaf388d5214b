"""Microsoft Graph, outgoing only: the client (`client`), mail from the partnership's mailbox (`mail`),
and Outlook invites with a Teams meeting (`calendar`)."""
