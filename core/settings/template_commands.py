"""The «Команды бота» group of «Настройки → Тексты сообщений»: the descriptions the
messengers show in the bot's «/» menu (bot_handlers/commands.py MENU, in its order).

They are not sent in a message: the runner hands the menu to each messenger
(setMyCommands in Telegram, PATCH /me/commands in MAX) at start and again within a minute
of an owner's edit (jobs/bot_commands.py). Kept apart from template_groups.py, which
holds the message texts."""

from __future__ import annotations

from core.settings.template_groups import COMMAND, Group

_NOTE = (
    "Описания команд в меню «/» в Telegram и MAX. Бот передаёт новое описание мессенджеру "
    "в течение минуты; пациент увидит его, когда приложение обновит меню (обычно при "
    "следующем открытии чата). Сами команды (/visits и другие) не меняются. Описание — "
    "одна строка, не длиннее 128 знаков. MAX показывает одно меню всем — на языке клиники."
)

COMMAND_ENTRIES: list[tuple[Group, list[tuple]]] = [
    (
        Group("Команды бота", "commands", _NOTE),
        [
            ("cmd_start", "Команда /start", COMMAND),
            ("cmd_visits", "Команда /visits", COMMAND),
            ("cmd_balance", "Команда /balance", COMMAND),
            ("cmd_family", "Команда /family", COMMAND),
            ("cmd_friend", "Команда /friend", COMMAND),
            ("cmd_care", "Команда /care", COMMAND),
            ("cmd_documents", "Команда /documents", COMMAND),
            ("cmd_settings", "Команда /settings", COMMAND),
            ("cmd_language", "Команда /language", COMMAND),
            ("cmd_help", "Команда /help", COMMAND),
        ],
    ),
]
