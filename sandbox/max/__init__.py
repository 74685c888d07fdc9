"""MAX Bot API emulator (see emulator.py) and the schema it and the adapter follow."""

from .emulator import MaxEmulator

__all__ = ["MaxEmulator"]
