"""Texts of confirmations written back to the MIS (core.visits.confirm_writeback), merged
into core.texts.CATALOGUE. Russian first, English beside it."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "task_mis_writeback": {
        "ru": "Не удалось записать в МИС подтверждение визита: {patient}, {when} "
        "(визит {visit}, поле {column}). Пациент подтвердил визит в боте; отметьте "
        "подтверждение в МИС вручную. Причина: {error}",
        "en": "Could not write the visit's confirmation to the MIS: {patient}, {when} "
        "(visit {visit}, column {column}). The patient confirmed in the bot; mark it in the "
        "MIS by hand. Reason: {error}",
    },
}
