"""Kabinet domain code: configuration, local store, loyalty ledger, messaging, tasks.

Nothing here imports Flask or Telegram, so every rule can be tested on its own.
"""

__version__ = "0.1.0"
# The oldest release this one updates from directly (written into the bundle's manifest);
# a clinic on anything older is told to update to this one first.
__upgrades_from__ = "0.1.0"
