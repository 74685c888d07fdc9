"""Kabinet domain code: configuration, local store, loyalty ledger, messaging, tasks.

Nothing here imports Flask or Telegram, so every rule can be tested on its own.
"""

__version__ = "0.1.0"
