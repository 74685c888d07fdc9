"""Test doubles that stand in for the outside world: a Telegram Bot API emulator and a demo clinic MIS."""
