"""Texts of the patient's menu (issue 11 part 2): visits, bonus history, family, a friend's
invitation, settings. Merged into core.texts.CATALOGUE; Russian first, English beside."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "menu_family": {"ru": "👨‍👩‍👧 Семья", "en": "👨‍👩‍👧 Family"},
    "menu_friend": {"ru": "🤝 Пригласить друга", "en": "🤝 Recommend a friend"},
    "menu_settings": {"ru": "⚙️ Настройки", "en": "⚙️ Settings"},
    "cmd_friend": {"ru": "Пригласить друга", "en": "Recommend a friend"},
    "help": {
        "ru": "Это бот клиники «{clinic}».\n\n"
        "🗓 Мои визиты — /visits: предстоящие (подтвердить, перенести, отменить) и за год\n"
        "🎁 Мои бонусы — /balance: баланс и история\n"
        "👨‍👩‍👧 Семья — /family: чьи визиты показывать, уведомления, пригласить\n"
        "🤝 Пригласить друга — /friend: ваша ссылка и QR-код\n"
        "📋 Рекомендации — /care\n"
        "📄 Мои документы — /documents: подписанные и ждущие подписи\n"
        "⚙️ Настройки — /settings: уведомления, язык, рассылки\n"
        "🌐 Язык — /language\n\n"
        "💬 Вопрос клинике — просто напишите его сюда, администратор ответит в этом чате.",
        "en": "This is the bot of {clinic}.\n\n"
        "🗓 My visits — /visits: upcoming (confirm, reschedule, cancel) and the past year\n"
        "🎁 My bonuses — /balance: balance and history\n"
        "👨‍👩‍👧 Family — /family: whose visits to show, notices, invite\n"
        "🤝 Recommend a friend — /friend: your link and QR code\n"
        "📋 Care instructions — /care\n"
        "📄 My documents — /documents: signed and waiting to be signed\n"
        "⚙️ Settings — /settings: notices, language, mailings\n"
        "🌐 Language — /language\n\n"
        "💬 To ask the clinic something, just write it here; the front desk answers in this "
        "chat.",
    },
    # -- my visits --
    "visits_upcoming": {"ru": "🗓 Предстоящие визиты:", "en": "🗓 Upcoming visits:"},
    "visit_item": {
        "ru": "{n}. {who}{when}\n{doctor}{state}",
        "en": "{n}. {who}{when}\n{doctor}{state}",
    },
    "visit_where": {"ru": "\n📍 {address}\n🗺 {map}", "en": "\n📍 {address}\n🗺 {map}"},
    "visit_state_confirmed": {"ru": "\n✅ Вы подтвердили визит", "en": "\n✅ You confirmed"},
    "visit_state_reschedule": {
        "ru": "\n🔁 Перенос запрошен — администратор свяжется",
        "en": "\n🔁 Reschedule asked — the front desk will call",
    },
    "visit_state_cancel": {
        "ru": "\n✖️ Отмена запрошена — администратор свяжется",
        "en": "\n✖️ Cancellation asked — the front desk will call",
    },
    "visits_past": {"ru": "Визиты за 12 месяцев:", "en": "Visits in the past 12 months:"},
    "visits_past_none": {
        "ru": "За последние 12 месяцев визитов не было.",
        "en": "No visits in the past 12 months.",
    },
    "visit_past_item": {
        "ru": "• {who}{date} — {doctor}{state}",
        "en": "• {who}{date} — {doctor}{state}",
    },
    "visit_past_no_show": {"ru": " (не состоялся)", "en": " (missed)"},
    "visit_past_cancelled": {"ru": " (отменён)", "en": " (cancelled)"},
    # -- bonus history --
    "bonus_history": {"ru": "История бонусов:", "en": "Bonus history:"},
    "bonus_history_none": {"ru": "Движений по бонусам пока нет.", "en": "No bonus movements yet."},
    "bonus_history_item": {
        "ru": "• {date}: {amount} — {what}",
        "en": "• {date}: {amount} — {what}",
    },
    "ledger_accrual": {"ru": "за оплату", "en": "for a payment"},
    "ledger_welcome": {"ru": "приветственные", "en": "welcome points"},
    "ledger_referral": {"ru": "за приглашение друга", "en": "for inviting a friend"},
    "ledger_birthday": {"ru": "ко дню рождения", "en": "birthday"},
    "ledger_review": {"ru": "за отзыв", "en": "for a review"},
    "ledger_social": {"ru": "за публикацию", "en": "for a post"},
    "ledger_staff": {"ru": "от клиники", "en": "from the clinic"},
    "ledger_manual": {"ru": "от клиники", "en": "from the clinic"},
    "ledger_redemption": {"ru": "оплата бонусами", "en": "paid with points"},
    "ledger_spend": {"ru": "оплата бонусами", "en": "paid with points"},
    "ledger_reversal": {"ru": "возврат оплаты", "en": "payment refunded"},
    "ledger_expiry": {"ru": "сгорели", "en": "expired"},
    "ledger_transfer": {"ru": "перенос на семейный счёт", "en": "moved to the family account"},
    "ledger_other": {"ru": "изменение баланса", "en": "balance change"},
    # -- recommend a friend --
    "friend_screen": {
        "ru": "🤝 Пригласите друга в «{clinic}».\n\nВаша личная ссылка:\n{link}\n\n{reward}"
        "По вашей ссылке пришли: {came}, из них оплатили первый визит: {paid}. "
        "Вы получили за них {earned} бонусов.",
        "en": "🤝 Invite a friend to {clinic}.\n\nYour personal link:\n{link}\n\n{reward}"
        "Came by your link: {came}, of them paid for a first visit: {paid}. "
        "You earned {earned} points for them.",
    },
    "friend_reward": {
        "ru": "Когда друг оплатит первый визит, вы получите {points} бонусов, а друг — "
        "{friend_points}.\n\n",
        "en": "When a friend pays for a first visit, you get {points} points and your friend "
        "gets {friend_points}.\n\n",
    },
    "friend_qr": {
        "ru": "QR-код вашей ссылки: другу достаточно навести камеру телефона.",
        "en": "The QR code of your link: your friend only has to point a phone camera at it.",
    },
    "btn_share": {"ru": "📤 Поделиться ссылкой", "en": "📤 Share the link"},
    "friend_share_text": {
        "ru": "Рекомендую клинику «{clinic}» — запишитесь по моей ссылке:",
        "en": "I recommend {clinic} — book through my link:",
    },
    # -- family --
    "family_screen": {
        "ru": "👨‍👩‍👧 Семья в этом чате:\n{lines}\n\n👁 — чьи визиты и бонусы показывать, "
        "🔔 — чьи уведомления получать здесь. Добавить члена семьи: «Пригласить» — он(а) "
        "откроет ссылку и подтвердит себя своим номером.",
        "en": "👨‍👩‍👧 Family in this chat:\n{lines}\n\n👁 — whose visits and bonuses to show, "
        "🔔 — whose notices to get here. To add a family member: “Invite” — they open the "
        "link and confirm with their own number.",
    },
    "family_member": {"ru": "• {name}{flags}", "en": "• {name}{flags}"},
    "family_flag_hidden": {"ru": " — не показываем", "en": " — not shown"},
    "family_flag_muted": {"ru": " — без уведомлений", "en": " — no notices"},
    "btn_family_invite": {"ru": "➕ Пригласить члена семьи", "en": "➕ Invite a family member"},
    "family_last_shown": {
        "ru": "Хотя бы один человек должен оставаться на экране.",
        "en": "At least one person has to stay shown.",
    },
    "family_saved": {"ru": "Сохранено.", "en": "Saved."},
    "family_invite": {
        "ru": "Перешлите это приглашение члену семьи:\n{link}\n\nОно одноразовое и действует "
        "{days} дней. Открыв его, он(а) подтвердит себя своим номером — чужой номер не "
        "подойдёт. Если в клинике вы записаны не одной семьёй, сначала подтвердит "
        "администратор.",
        "en": "Forward this invitation to a family member:\n{link}\n\nIt works once, for "
        "{days} days. Opening it, they confirm themselves with their own number — nobody "
        "else's will do. If the clinic does not have you as one family, the front desk "
        "confirms first.",
    },
    "family_invite_opened": {
        "ru": "Вас пригласили в семью в боте клиники «{clinic}». Чтобы присоединиться, "
        "подтвердите себя своим номером.",
        "en": "You have been invited to a family in the bot of {clinic}. To join, confirm "
        "yourself with your own number.",
    },
    "family_invite_gone": {
        "ru": "Это приглашение уже использовано или устарело. Попросите новое.",
        "en": "This invitation has been used or has expired. Please ask for a new one.",
    },
    "family_invite_own": {
        "ru": "Это ваше собственное приглашение — перешлите его члену семьи.",
        "en": "This is your own invitation — forward it to a family member.",
    },
    "family_joined": {
        "ru": "👨‍👩‍👧 Теперь в вашей семье в этом чате: {names}. Их визиты и бонусы — в меню.",
        "en": "👨‍👩‍👧 Now in your family in this chat: {names}. Their visits and bonuses are in "
        "the menu.",
    },
    "family_joined_invited": {
        "ru": "Готово: вы в семье — ваши визиты и бонусы видны и в чате, откуда пришло "
        "приглашение.",
        "en": "Done: you are in the family — your visits and bonuses are shown in the chat "
        "the invitation came from too.",
    },
    "family_invite_staff": {
        "ru": "Передали администратору: он подтвердит, что вы одна семья, и тогда вы "
        "появитесь в семье пригласившего.",
        "en": "We have asked the front desk to confirm you are one family; then you will "
        "appear in the inviting chat's family.",
    },
    "task_family_invite": {
        "ru": "👪 Приглашение в семью: {invited} принял(а) приглашение от {inviter}. В МИС "
        "это не одна семья — проверьте и при необходимости объедините в МИС; после этого "
        "бот покажет их друг другу.",
        "en": "👪 Family invitation: {invited} accepted the invitation of {inviter}. The MIS "
        "does not have them as one family — check and join them in the MIS if right; then "
        "the bot shows them to each other.",
    },
    # -- settings --
    "settings_screen": {
        "ru": "⚙️ Настройки\n\n🌐 Язык: русский\n📣 Рассылки и поздравления: {mailings}\n\n"
        "Уведомления в этом чате:\n{kinds}\n\nНапоминания и сообщения о визитах приходят "
        "всегда: на них держится запись. Уведомления о ком-то из семьи выключаются в "
        "«👨‍👩‍👧 Семья».",
        "en": "⚙️ Settings\n\n🌐 Language: English\n📣 Mailings and greetings: {mailings}\n\n"
        "Notices in this chat:\n{kinds}\n\nVisit reminders and notices always come: your "
        "bookings rest on them. Notices about a family member are turned off in "
        "“👨‍👩‍👧 Family”.",
    },
    "settings_kind": {"ru": "{mark} {label}", "en": "{mark} {label}"},
    "notice_ratings": {"ru": "Просьбы оценить визит", "en": "Requests to rate a visit"},
    "notice_care": {"ru": "Рекомендации после визита", "en": "Care instructions"},
    "notice_loyalty": {"ru": "Уведомления о бонусах", "en": "Bonus notices"},
    "btn_language_other": {"ru": "🌐 English", "en": "🌐 Русский"},
    "btn_mailings_off": {"ru": "📣 Отключить рассылки", "en": "📣 Turn mailings off"},
    "btn_mailings_on": {"ru": "📣 Включить рассылки", "en": "📣 Turn mailings on"},
    "settings_saved": {"ru": "Сохранено.", "en": "Saved."},
    "settings_unchanged": {
        "ru": "Уже так — ничего не изменено.",
        "en": "Already so — nothing changed.",
    },
}
