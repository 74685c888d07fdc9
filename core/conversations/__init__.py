"""Conversations: one thread per patient chat, holding everything both ways, in order.

`models` has the tables; `threads` records what the patient, the bot and the staff say and
files it into episodes (tasks, core.tasks); `files` keeps what patients send; `hours` knows
when the clinic answers; `inbox` is what the panel reads. No Flask or Telegram imports.
"""
