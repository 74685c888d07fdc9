"""A Telegram Bot API emulator that the real pyTelegramBotAPI can talk to over HTTP.

Point the library at it with ``telebot.apihelper.API_URL = emu.api_url`` and
``telebot.apihelper.FILE_URL = emu.file_url``; see :class:`TelegramEmulator`.
"""

from .emulator import ApiError, ApiResponse, TelegramEmulator, Upload

__all__ = ["ApiError", "ApiResponse", "TelegramEmulator", "Upload"]
