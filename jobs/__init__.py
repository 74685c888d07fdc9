"""Background work: the declarative job table, the outbox dispatcher, the Telegram poller,
and the runner that owns them all (exactly one per installation)."""
