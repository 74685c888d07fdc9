"""Patient- and staff-facing texts: Russian first, with an English catalogue.

Templates use str.format fields. The owner may override the texts listed in
core/settings/templates.py on «Настройки»; render() uses the override for that key and
language (core.settings.templates.publish hands them over) and falls back to the catalogue.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from core.documents.texts import TEXTS as DOCUMENT_TEXTS
from core.texts.account import TEXTS as ACCOUNT_TEXTS
from core.texts.campaigns import TEXTS as CAMPAIGN_TEXTS
from core.texts.menu import TEXTS as MENU_TEXTS
from core.texts.messengers import TEXTS as MESSENGER_TEXTS
from core.texts.phone_code import TEXTS as PHONE_CODE_TEXTS
from core.texts.reviews import TEXTS as REVIEW_TEXTS
from core.texts.screenshots import TEXTS as SCREENSHOT_TEXTS
from core.visits.texts import TEXTS as WRITEBACK_TEXTS

CATALOGUE: dict[str, dict[str, str]] = {
    "welcome": {
        "ru": "Здравствуйте! Это бот клиники «{clinic}».\n\nЗдесь ваши визиты, бонусы и связь "
        "с администратором. Чтобы мы узнали вас, нажмите кнопку «Поделиться номером» ниже.\n\n"
        "Нажимая её, вы соглашаетесь на обработку персональных данных для записи и "
        "напоминаний.",
        "en": "Hello! This is the bot of {clinic}.\n\nYour visits, bonuses and a chat with the "
        "front desk live here. So that we recognise you, press “Share my number” below.\n\n"
        "By pressing it you consent to the processing of your personal data for bookings and "
        "reminders.",
    },
    "share_contact_button": {"ru": "📱 Поделиться номером", "en": "📱 Share my number"},
    "contact_not_own": {
        "ru": "Пожалуйста, отправьте свой номер кнопкой «Поделиться номером» — чужой контакт "
        "мы принять не можем.",
        "en": "Please send your own number with the “Share my number” button — we cannot "
        "accept someone else's contact.",
    },
    "typed_phone_refused": {
        "ru": "Чтобы защитить ваши данные, номер нужно отправить кнопкой «Поделиться номером», "
        "а не вводить вручную.",
        "en": "To protect your data, please send the number with the “Share my number” button "
        "rather than typing it.",
    },
    "greeting": {
        "ru": "{name}, здравствуйте! Мы вас узнали. Здесь будут ваши визиты и бонусы.",
        "en": "Hello, {name}! We have recognised you. Your visits and bonuses will be here.",
    },
    "greeting_family": {
        "ru": "{name}, здравствуйте! К вашему номеру привязаны также: {others}.",
        "en": "Hello, {name}! Also linked to your number: {others}.",
    },
    "not_found": {
        "ru": "Не нашли пациента с номером {phone}. Мы передали администратору — с вами свяжутся.",
        "en": "We could not find a patient with the number {phone}. The front desk has been "
        "told and will contact you.",
    },
    "linked_later": {
        "ru": "{name}, здравствуйте! Карта пациента с вашим номером появилась в клинике "
        "«{clinic}», и мы вас узнали: номер присылать ещё раз не нужно. Здесь будут ваши "
        "визиты и бонусы.",
        "en": "Hello, {name}! A patient record with your number has appeared at {clinic} and "
        "we have recognised you: no need to share your number again. Your visits and bonuses "
        "will be here.",
    },
    "menu_visits": {"ru": "🗓 Мои визиты", "en": "🗓 My visits"},
    "menu_balance": {"ru": "🎁 Мои бонусы", "en": "🎁 My bonuses"},
    "menu_ask": {"ru": "💬 Написать в клинику", "en": "💬 Message the clinic"},
    "booked": {
        "ru": "{name}, вы записаны: {when}, {doctor}.\nКлиника «{clinic}».",
        "en": "{name}, you are booked: {when}, {doctor}.\n{clinic}.",
    },
    "moved": {
        "ru": "{name}, ваш визит перенесён: теперь {when}, {doctor}.",
        "en": "{name}, your visit has moved: now {when}, {doctor}.",
    },
    "cancelled": {
        "ru": "{name}, ваш визит {when} отменён. Если это ошибка, напишите нам здесь.",
        "en": "{name}, your visit on {when} is cancelled. If this is a mistake, write to us here.",
    },
    "reminder": {
        "ru": "{name}, напоминаем о визите {when}, {doctor}.\nВы придёте?",
        "en": "{name}, a reminder of your visit {when}, {doctor}.\nWill you come?",
    },
    "btn_confirm": {"ru": "✅ Подтверждаю", "en": "✅ Confirm"},
    "btn_reschedule": {"ru": "🔁 Перенести", "en": "🔁 Reschedule"},
    "confirmed": {
        "ru": "Спасибо! Визит {when} подтверждён. Ждём вас.",
        "en": "Thank you! Your visit {when} is confirmed. See you.",
    },
    "reschedule_requested": {
        "ru": "Хорошо, администратор свяжется с вами, чтобы подобрать другое время.",
        "en": "All right, the front desk will contact you to find another time.",
    },
    "already_answered": {"ru": "Ответ уже получен, спасибо.", "en": "We already have your answer."},
    # -- reminder sequences, reschedule and cancel (core/reminders.py, bot_handlers/visits.py) --
    "btn_cancel_visit": {"ru": "✖️ Отменить", "en": "✖️ Cancel"},
    "awaiting": {
        "ru": "{name}, ждём вас сегодня в {time}!\n{doctor}{address}",
        "en": "{name}, we expect you today at {time}!\n{doctor}{address}",
    },
    "awaiting_address": {"ru": "\nАдрес: {address}", "en": "\nAddress: {address}"},
    "reschedule_days": {
        "ru": "Подберём другое время. Какие дни вам удобны? Выберите или напишите своими словами.",
        "en": "We will find another time. Which days suit you? Choose, or write in your own words.",
    },
    "reschedule_parts": {
        "ru": "В какое время дня? Выберите или напишите своими словами.",
        "en": "What time of day? Choose, or write in your own words.",
    },
    "days_weekdays": {"ru": "Будни", "en": "Weekdays"},
    "days_weekend": {"ru": "Выходные", "en": "Weekend"},
    "days_any": {"ru": "Любой день", "en": "Any day"},
    "part_morning": {"ru": "Утро", "en": "Morning"},
    "part_afternoon": {"ru": "День", "en": "Afternoon"},
    "part_evening": {"ru": "Вечер", "en": "Evening"},
    "part_any": {"ru": "Любое время", "en": "Any time"},
    "cancel_reason_ask": {
        "ru": "Жаль. Подскажите, почему отменяете? Выберите или напишите своими словами.",
        "en": "A pity. May we ask why? Choose, or write in your own words.",
    },
    "reason_ill": {"ru": "Заболел(а)", "en": "I am ill"},
    "reason_plans": {"ru": "Изменились планы", "en": "My plans changed"},
    "reason_elsewhere": {"ru": "Лечусь в другом месте", "en": "Treated elsewhere"},
    "reason_better": {"ru": "Уже не беспокоит", "en": "No longer needed"},
    "cancel_requested": {
        "ru": "Спасибо, передали администратору: визит отменят, при необходимости с вами свяжутся.",
        "en": "Thank you, the front desk will cancel the visit and contact you if needed.",
    },
    "task_reschedule_wish": {
        "ru": "🔁 Перенос: {patient} ({phone}) просит перенести визит {when}, {doctor}.\n"
        "Удобно: {wish}",
        "en": "🔁 Reschedule: {patient} ({phone}) asks to move the visit {when}, {doctor}.\n"
        "Suits: {wish}",
    },
    "task_cancel_visit": {
        "ru": "✖️ Отмена: {patient} ({phone}) отменяет визит {when}, {doctor}.\nПричина: {reason}",
        "en": "✖️ Cancel: {patient} ({phone}) cancels the visit {when}, {doctor}.\nReason: {reason}",
    },
    # -- arrival (core/visits/arrival.py) --
    "arrival_welcome": {
        "ru": "{name}, добро пожаловать в «{clinic}»! Врач скоро вас пригласит.",
        "en": "{name}, welcome to {clinic}! The doctor will call you in shortly.",
    },
    "arrival_offer": {
        "ru": "{name}, добро пожаловать в «{clinic}»! Врач скоро вас пригласит. "
        "Пока ждёте — что вам предложить?",
        "en": "{name}, welcome to {clinic}! The doctor will call you in shortly. "
        "While you wait, may we offer you something?",
    },
    "arrival_offer_taken": {
        "ru": "Сейчас принесём: {choice}.",
        "en": "We will bring it: {choice}.",
    },
    "task_arrival_offer": {
        "ru": "☕ {patient} в холле просит: {choice}.",
        "en": "☕ {patient} in the waiting room asks for: {choice}.",
    },
    "not_yours": {"ru": "Эта кнопка не для вас.", "en": "This button is not for you."},
    "visit_not_current": {
        "ru": "Этот визит уже отменён, перенесён или прошёл. Актуальные записи — в «🗓 Мои визиты».",
        "en": "This visit has been cancelled, moved or has passed. Your current bookings are "
        "in “🗓 My visits”.",
    },
    # -- commands (bot_handlers/commands.py; the menu set with setMyCommands) --
    "cmd_start": {"ru": "Начать и узнать меня", "en": "Start and recognise me"},
    "cmd_visits": {"ru": "Мои визиты", "en": "My visits"},
    "cmd_balance": {"ru": "Мои бонусы", "en": "My bonuses"},
    "cmd_care": {"ru": "Рекомендации после визитов", "en": "Care instructions"},
    "cmd_family": {"ru": "Семья", "en": "Family"},
    "cmd_settings": {"ru": "Настройки", "en": "Settings"},
    "cmd_language": {"ru": "Язык: русский / English", "en": "Language: English / русский"},
    "cmd_help": {"ru": "Что умеет бот", "en": "What the bot can do"},
    # "help" is in core/texts/menu.py, beside the menu it lists.
    "unknown_command": {"ru": "Такой команды я не знаю.", "en": "I do not know that command."},
    # "settings_screen": core/texts/menu.py.
    "settings_mailings_on": {"ru": "включены", "en": "on"},
    "settings_mailings_off": {"ru": "выключены", "en": "off"},
    "settings_mailings_stop": {"ru": "отписаться: /stop", "en": "unsubscribe: /stop"},
    "settings_mailings_start": {"ru": "включить: /subscribe", "en": "turn on: /subscribe"},
    "language_set": {
        "ru": "Готово: бот говорит по-русски. For English: /language en",
        "en": "Done: the bot speaks English now. По-русски: /language ru",
    },
    "bonus_accrued": {
        "ru": "{name}, начислено {points} бонусов за оплату {amount} ₽. Баланс: {balance}.",
        "en": "{name}, {points} bonus points for your payment of {amount} ₽. Balance: {balance}.",
    },
    "bonus_reversed": {
        "ru": "{name}, оплата {amount} ₽ возвращена, бонусы за неё списаны ({points}). "
        "Баланс: {balance}.",
        "en": "{name}, the payment of {amount} ₽ was refunded and its bonus points taken back "
        "({points}). Balance: {balance}.",
    },
    "balance": {
        "ru": "{name}: {balance} бонусов (1 бонус = {value} ₽).",
        "en": "{name}: {balance} bonus points (1 point = {value} ₽).",
    },
    # -- loyalty --
    "bonus_accrued_family": {
        "ru": "{name}, на семейный счёт начислено {points} бонусов за оплату {amount} ₽ "
        "({member}). Баланс: {balance}.",
        "en": "{name}, {points} bonus points for a payment of {amount} ₽ ({member}) went to "
        "your family account. Balance: {balance}.",
    },
    "bonus_reversed_family": {
        "ru": "{name}, оплата {amount} ₽ ({member}) возвращена, бонусы за неё списаны с "
        "семейного счёта ({points}). Баланс: {balance}.",
        "en": "{name}, the payment of {amount} ₽ ({member}) was refunded and its bonus points "
        "taken back from the family account ({points}). Balance: {balance}.",
    },
    "bonus_refund_partial": {
        "ru": "{name}, вам вернули {amount} ₽ из оплаты {paid} ₽; бонусы за эту часть "
        "списаны ({points}). Баланс: {balance}.",
        "en": "{name}, {amount} ₽ of your payment of {paid} ₽ was refunded and the bonus points "
        "for that part taken back ({points}). Balance: {balance}.",
    },
    "bonus_refund_partial_family": {
        "ru": "{name}, из оплаты {paid} ₽ ({member}) возвращено {amount} ₽; бонусы за эту "
        "часть списаны с семейного счёта ({points}). Баланс: {balance}.",
        "en": "{name}, {amount} ₽ of a payment of {paid} ₽ ({member}) was refunded and the "
        "bonus points for that part taken back from the family account ({points}). "
        "Balance: {balance}.",
    },
    "bonus_spent": {
        "ru": "{name}, списано {points} бонусов ({rub} ₽). Баланс: {balance}.",
        "en": "{name}, {points} bonus points ({rub} ₽) were spent. Balance: {balance}.",
    },
    "bonus_granted": {
        "ru": "{name}, вам начислено {points} бонусов: {reason}. Баланс: {balance}.",
        "en": "{name}, you have received {points} bonus points: {reason}. Balance: {balance}.",
    },
    "bonus_review": {
        "ru": "{name}, спасибо, что поделились мнением о клинике! Начислено {points} бонусов. "
        "Баланс: {balance}.",
        "en": "{name}, thank you for sharing your opinion of the clinic! {points} bonus points "
        "added. Balance: {balance}.",
    },
    "bonus_social": {
        "ru": "{name}, спасибо, что рассказали о клинике! Начислено {points} бонусов. "
        "Баланс: {balance}.",
        "en": "{name}, thank you for telling others about the clinic! {points} bonus points "
        "added. Balance: {balance}.",
    },
    "welcome_bonus": {
        "ru": "{name}, добро пожаловать в бонусную программу! Начислено {points} "
        "приветственных бонусов.",
        "en": "{name}, welcome to the bonus programme! {points} welcome points are yours.",
    },
    "referral_rewarded": {
        "ru": "{name}, по вашей ссылке к нам пришёл новый пациент и оплатил первый визит. "
        "Спасибо! Начислено {points} бонусов. Баланс: {balance}.",
        "en": "{name}, a new patient came by your link and paid for their first visit. "
        "Thank you! {points} bonus points added. Balance: {balance}.",
    },
    "referred_rewarded": {
        "ru": "{name}, спасибо, что пришли по приглашению! Начислено {points} бонусов. "
        "Баланс: {balance}.",
        "en": "{name}, thank you for coming by invitation! {points} bonus points added. "
        "Balance: {balance}.",
    },
    "birthday_bonus": {
        "ru": "{name}, с днём рождения! Дарим {points} бонусов — они действуют до {until}.",
        "en": "{name}, happy birthday! Here are {points} bonus points, valid until {until}.",
    },
    "birthday_bonus_forever": {
        "ru": "{name}, с днём рождения! Дарим {points} бонусов.",
        "en": "{name}, happy birthday! Here are {points} bonus points.",
    },
    "expiry_reminder": {
        "ru": "{name}, {points} бонусов сгорят {date}. Их можно потратить на следующем визите. "
        "Баланс: {balance}.",
        "en": "{name}, {points} bonus points expire on {date}. You can use them at your next "
        "visit. Balance: {balance}.",
    },
    "balance_threshold": {
        "ru": "{name}, у вас уже {balance} бонусов — это {rub} ₽ скидки при оплате "
        "(до {share} % счёта).",
        "en": "{name}, you now have {balance} bonus points — {rub} ₽ off your bills "
        "(up to {share} % of a bill).",
    },
    "balance_family": {
        "ru": "Семейный счёт ({members}): {balance} бонусов (1 бонус = {value} ₽).",
        "en": "Family account ({members}): {balance} bonus points (1 point = {value} ₽).",
    },
    "balance_expiry": {
        "ru": "Ближайшее сгорание: {points} бонусов {date}.",
        "en": "Next to expire: {points} points on {date}.",
    },
    "balance_tier": {"ru": "Ваш уровень: {tier}.", "en": "Your tier: {tier}."},
    "referral_invite": {
        "ru": "Приглашайте друзей по вашей ссылке:\n{link}\nКогда друг оплатит первый визит, "
        "вы получите {points} бонусов, а друг — {friend_points}.",
        "en": "Invite friends with your link:\n{link}\nWhen a friend pays for their first "
        "visit, you get {points} bonus points and your friend gets {friend_points}.",
    },
    "btn_mute": {"ru": "🔕 Без уведомлений о бонусах", "en": "🔕 No bonus notices"},
    "btn_unmute": {"ru": "🔔 Уведомлять о бонусах", "en": "🔔 Send bonus notices"},
    "notices_muted": {
        "ru": "Уведомления о бонусах выключены.",
        "en": "Bonus notices are off.",
    },
    "notices_unmuted": {
        "ru": "Уведомления о бонусах включены.",
        "en": "Bonus notices are on.",
    },
    "no_visits": {"ru": "Предстоящих визитов нет.", "en": "No upcoming visits."},
    "visits_header": {"ru": "Ваши визиты:", "en": "Your visits:"},
    "need_link": {
        "ru": "Сначала нажмите «Поделиться номером», чтобы мы вас узнали.",
        "en": "First press “Share my number” so that we recognise you.",
    },
    "message_received": {
        "ru": "Сообщение передано администратору. Ответим в рабочее время.",
        "en": "Your message has been passed to the front desk. We will answer in working hours.",
    },
    # -- staff --
    "task_reschedule": {
        "ru": "🔁 Перенос: {patient} ({phone}) просит перенести визит {when}, {doctor}.",
        "en": "🔁 Reschedule: {patient} ({phone}) asks to move the visit {when}, {doctor}.",
    },
    "task_message": {
        "ru": "💬 Сообщение от {patient} ({phone}):\n{text}",
        "en": "💬 Message from {patient} ({phone}):\n{text}",
    },
    "task_unknown_patient": {
        "ru": "❓ Не найден пациент с номером {phone} (Telegram: {tg_name}).",
        "en": "❓ No patient with the number {phone} (Telegram: {tg_name}).",
    },
    "btn_take": {"ru": "Взять", "en": "Take"},
    "btn_done": {"ru": "Готово", "en": "Done"},
    "btn_dismiss": {"ru": "Отклонить", "en": "Dismiss"},
    "task_taken": {"ru": "Взял(а): {who}", "en": "Taken by {who}"},
    "task_done": {"ru": "✅ Готово: {who}", "en": "✅ Done by {who}"},
    "task_dismissed": {"ru": "✖️ Отклонено: {who}", "en": "✖️ Dismissed by {who}"},
    # -- conversations (issue #10) --
    "message_received_open": {
        "ru": "Сообщение передано администратору — ответим здесь, в этом чате.",
        "en": "Your message is with the front desk — we will answer here, in this chat.",
    },
    "message_received_closed": {
        "ru": "Сообщение передано администратору. Сейчас клиника закрыта — ответим {opens}, "
        "здесь, в этом чате.",
        "en": "Your message is with the front desk. The clinic is closed now — we will "
        "answer {opens}, here in this chat.",
    },
    "ask_prompt": {
        "ru": "Напишите ваш вопрос — можно несколькими сообщениями, с фото или документом. "
        "Администратор ответит здесь, в этом чате.",
        "en": "Write your question — in several messages if you like, with a photo or a "
        "document. The front desk will answer here, in this chat.",
    },
    "file_too_big": {
        "ru": "Файл слишком большой: мы принимаем файлы до {limit} МБ. Пришлите, пожалуйста, "
        "файл поменьше или опишите вопрос словами.",
        "en": "The file is too big: we accept files up to {limit} MB. Please send a smaller "
        "one or describe your question in words.",
    },
    "line_photo": {"ru": "📷 фото", "en": "📷 photo"},
    "line_document": {"ru": "📄 документ {name}", "en": "📄 document {name}"},
    "line_voice": {"ru": "🎤 голосовое сообщение", "en": "🎤 voice message"},
    "line_audio": {"ru": "🎵 аудио {name}", "en": "🎵 audio {name}"},
    "line_video": {"ru": "🎬 видео", "en": "🎬 video"},
    "line_video_note": {"ru": "🎬 видеосообщение", "en": "🎬 video message"},
    "line_sticker": {"ru": "стикер {emoji}", "en": "sticker {emoji}"},
    "line_location": {"ru": "📍 геопозиция", "en": "📍 location"},
    "line_contact": {"ru": "👤 контакт {name} {phone}", "en": "👤 contact {name} {phone}"},
    "line_file_too_big": {
        "ru": "(файл больше {limit} МБ — не принят)",
        "en": "(file over {limit} MB — refused)",
    },
    "task_taken_by_other": {
        "ru": "Уже взял(а) {who}.",
        "en": "Already taken by {who}.",
    },
    "task_closed_by": {
        "ru": "Задача уже закрыта ({who}).",
        "en": "The task is already closed ({who}).",
    },
    # -- the staff group (issue #10 part 4): staff wording, never the patient's --
    "post_count": {"ru": "Сообщений пациента: {n}", "en": "Patient's messages: {n}"},
    "post_more": {"ru": "… ещё строк выше: {n}", "en": "… {n} more lines above"},
    "post_reply": {"ru": "↩️ {who}: {text}", "en": "↩️ {who}: {text}"},
    "post_link": {"ru": "Открыть в панели: {url}", "en": "Open in the panel: {url}"},
    "post_by_system": {"ru": "автоматически", "en": "automatically"},
    "post_open": {"ru": "🆕 Новая — никто не взял", "en": "🆕 New — nobody has taken it"},
    "post_escalated": {
        "ru": "⏰ Ждёт {minutes} мин рабочего времени",
        "en": "⏰ Waiting {minutes} min of working time",
    },
    "post_blocked": {
        "ru": "⛔ Пациент заблокировал бота — ответы не доходят",
        "en": "⛔ The patient blocked the bot — replies do not reach them",
    },
    "staff_ping": {
        "ru": "⏰ Задача #{id} ждёт {minutes} мин, никто не взял. {who}",
        "en": "⏰ Task #{id} has waited {minutes} min, nobody took it. {who}",
    },
    "staff_ping_many": {
        "ru": "⏰ Ждут дольше срока, никто не взял — задач: {count}: {ids}. {who}",
        "en": "⏰ Waiting past their time, nobody took them — {count} tasks: {ids}. {who}",
    },
    "staff_ping_more": {"ru": " и ещё {count}", "en": " and {count} more"},
    "staff_not_linked": {
        "ru": "{name}, сначала привяжите Telegram: в панели «Задачи» → «Привязать Telegram», "
        "затем отправьте боту /link КОД. Ничего не изменено.",
        "en": "{name}, link Telegram first: in the panel «Задачи» → «Привязать Telegram», "
        "then send the bot /link CODE. Nothing was changed.",
    },
    "staff_button_stale": {
        "ru": "Кнопка устарела — ничего не изменено.",
        "en": "This button is stale — nothing was changed.",
    },
    "staff_reply_refused": {
        "ru": "⛔ {who}, ответ по задаче #{id} не отправлен: {reason}",
        "en": "⛔ {who}, the reply on task #{id} was not sent: {reason}",
    },
    "staff_reply_undelivered": {
        "ru": "⛔ {who}, ответ по задаче #{id} не доставлен: {reason}",
        "en": "⛔ {who}, the reply on task #{id} was not delivered: {reason}",
    },
    "staff_reply_text_only": {
        "ru": "{who}, из группы пациенту уходит только текст; файл отправьте из панели.",
        "en": "{who}, only text goes to the patient from the group; send files from the panel.",
    },
    "staff_link_done": {
        "ru": "Готово: этот Telegram привязан к учётной записи «{name}». Теперь в группе "
        "можно брать задачи и отвечать пациентам ответом на сообщение задачи.",
        "en": "Done: this Telegram account is linked to «{name}». In the group you can now "
        "take tasks and answer patients by replying to a task's message.",
    },
    "staff_link_bad": {
        "ru": "Код не подошёл или устарел. Получите новый в панели («Задачи» → «Привязать "
        "Telegram»).",
        "en": "The code is wrong or expired. Get a new one in the panel.",
    },
    "staff_link_usage": {
        "ru": "Отправьте /link и код из панели, например: /link 7KQ2-M9XD",
        "en": "Send /link and the code from the panel, e.g. /link 7KQ2-M9XD",
    },
    # -- delivery: ratings, greetings, mailings, SMS (issue #5) --
    "rating_request": {
        "ru": "{name}, как прошёл визит {when}, {doctor}? Оцените, пожалуйста, от 1 до 5.",
        "en": "{name}, how was your visit {when}, {doctor}? Please rate it from 1 to 5.",
    },
    "rating_review_invite": {
        "ru": "Если будет минутка, оставьте и отзыв о клинике — он помогает другим пациентам.",
        "en": "If you have a minute, please also leave a review — it helps other patients.",
    },
    "btn_review": {"ru": "✍️ Оставить отзыв", "en": "✍️ Leave a review"},
    "rating_thanks": {
        "ru": "Спасибо за оценку!",
        "en": "Thank you for your rating!",
    },
    "rating_thanks_low": {
        "ru": "Спасибо, что рассказали. Нам жаль, что визит вас огорчил: администратор "
        "свяжется с вами.",
        "en": "Thank you for telling us. We are sorry the visit disappointed you: the front "
        "desk will contact you.",
    },
    "task_service_recovery": {
        "ru": "⚠️ Оценка {score}: {patient} ({phone}), визит {when}, {doctor}. "
        "Свяжитесь с пациентом.",
        "en": "⚠️ Rated {score}: {patient} ({phone}), visit {when}, {doctor}. "
        "Please contact the patient.",
    },
    "task_escalated": {
        "ru": "⏰ Задачу #{id} никто не взял за {minutes} мин:\n{text}",
        "en": "⏰ Nobody took task #{id} in {minutes} min:\n{text}",
    },
    "birthday": {
        "ru": "{name}, с днём рождения! Желаем здоровья и красивой улыбки. Клиника «{clinic}».",
        "en": "{name}, happy birthday! We wish you good health and a beautiful smile. {clinic}.",
    },
    "btn_unsubscribe": {"ru": "🔕 Отписаться от рассылок", "en": "🔕 Unsubscribe"},
    "unsubscribed": {
        "ru": "Вы отписаны от рассылок и поздравлений. Напоминания о визитах будут приходить "
        "как прежде. Вернуть рассылки: /subscribe",
        "en": "You are unsubscribed from mailings and greetings. Visit reminders will still "
        "come. To subscribe again: /subscribe",
    },
    "subscribed": {
        "ru": "Рассылки снова включены. Отписаться: /stop",
        "en": "Mailings are on again. To unsubscribe: /stop",
    },
    "reminder_sms": {
        "ru": "{name}, напоминаем о визите {when}, {doctor}. {clinic}{phone}",
        "en": "{name}, a reminder of your visit {when}, {doctor}. {clinic}{phone}",
    },
    # -- care instructions after treatment (core/care.py) --
    "care_notice": {
        "ru": "{name}, рекомендации после визита {when}.\n\n{title}\n\n{text}",
        "en": "{name}, care instructions after your visit {when}.\n\n{title}\n\n{text}",
    },
    "menu_care": {"ru": "📋 Рекомендации", "en": "📋 Care instructions"},
    "care_none": {
        "ru": "Рекомендаций после ваших недавних визитов нет.",
        "en": "There are no care instructions from your recent visits.",
    },
    "care_item": {
        "ru": "Визит {date}: {title}\n\n{text}",
        "en": "Visit on {date}: {title}\n\n{text}",
    },
    "mis_back": {
        "ru": "✅ МИС снова доступна (с {since} UTC не отвечала).",
        "en": "✅ The MIS is reachable again (it was down since {since} UTC).",
    },
    # -- no-shows (core/visits/no_show.py) --
    "task_no_show": {
        "ru": "🚷 Не пришёл(ла) на приём: {patient} ({phone}), визит {when}, {doctor}. "
        "Свяжитесь с пациентом, чтобы перезаписать.",
        "en": "🚷 Did not come: {patient} ({phone}), visit {when}, {doctor}. "
        "Please contact the patient to book again.",
    },
    "no_show_message": {
        "ru": "{name}, мы ждали вас {when} ({doctor}), но визит не состоялся. Надеемся, у вас "
        "всё в порядке.\nЕсли хотите записаться снова, нажмите кнопку ниже — администратор "
        "свяжется с вами и подберёт удобное время.",
        "en": "{name}, we were expecting you {when} ({doctor}), but the visit did not take "
        "place. We hope all is well.\nIf you would like to book again, press the button below "
        "and the front desk will contact you to find a convenient time.",
    },
    "btn_rebook": {"ru": "📅 Записаться снова", "en": "📅 Book again"},
    "task_rebook": {
        "ru": "🔁 Перезапись: {patient} ({phone}) не пришёл(ла) на приём {when}, {doctor}, "
        "и просит записать снова.",
        "en": "🔁 Book again: {patient} ({phone}) missed the visit {when}, {doctor} and asks "
        "for a new time.",
    },
    "task_auto_closed": {
        "ru": "ℹ️ {reason} — задача закрыта автоматически.",
        "en": "ℹ️ {reason}: closed automatically.",
    },
    "no_show_arrived": {
        "ru": "В МИС пациент отмечен как пришедший",
        "en": "The MIS shows the patient arrived",
    },
    "no_show_completed": {
        "ru": "В МИС визит отмечен как состоявшийся",
        "en": "The MIS shows the visit completed",
    },
    "no_show_cancelled": {"ru": "В МИС визит отменён", "en": "The MIS shows the visit cancelled"},
    "no_show_deleted": {"ru": "В МИС визит удалён", "en": "The visit was deleted in the MIS"},
    "no_show_rescheduled": {
        "ru": "В МИС визит перенесён на {when}",
        "en": "The MIS moved the visit to {when}",
    },
    "no_show_rebook": {
        "ru": "Пациент сам попросил записать его снова: задача #{id}",
        "en": "The patient asked to book again: task #{id}",
    },
}

_MONTHS_RU = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]
_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_WEEKDAYS_RU = ("понедельник", "вторник", "среду", "четверг", "пятницу", "субботу", "воскресенье")


# The patient's account (issue 11) keeps its texts apart; they are one catalogue here.
CATALOGUE.update(ACCOUNT_TEXTS)
CATALOGUE.update(PHONE_CODE_TEXTS)  # linking by a code sent by SMS (core/texts/phone_code.py)
CATALOGUE.update(MENU_TEXTS)  # the menu: visits, family, a friend, settings (core/texts/menu.py)
CATALOGUE.update(MESSENGER_TEXTS)  # one patient, several messengers (core/texts/messengers.py)
CATALOGUE.update(DOCUMENT_TEXTS)  # documents signed in the bot (core/documents/texts.py)
CATALOGUE.update(SCREENSHOT_TEXTS)  # a review's screenshot for a bonus (core/texts/screenshots.py)
CATALOGUE.update(CAMPAIGN_TEXTS)  # a recall's «Записаться» (core/texts/campaigns.py)
CATALOGUE.update(WRITEBACK_TEXTS)  # a confirmation the MIS refused (core/visits/texts.py)
CATALOGUE.update(REVIEW_TEXTS)  # a review button per platform (core/texts/reviews.py)


# The owner's texts from «Настройки → Тексты сообщений», "<key>:<lang>" -> text, set by
# core.settings.templates.publish (each time the settings in force are read); replaced
# whole, never changed in place, so a reader sees one set or the other.
_PANEL_OVERRIDES: dict[str, str] = {}


def set_panel_overrides(texts: dict[str, str]) -> None:
    global _PANEL_OVERRIDES
    _PANEL_OVERRIDES = dict(texts)


def render(
    key: str, lang: str = "ru", overrides: dict[str, str] | None = None, **fields: Any
) -> str:
    template = (overrides or {}).get(f"{key}:{lang}") or _PANEL_OVERRIDES.get(f"{key}:{lang}")
    if template is None:
        entry = CATALOGUE[key]
        template = entry.get(lang) or entry["ru"]
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError):
        # A broken override must not silence a reminder: fall back to the catalogue.
        entry = CATALOGUE[key]
        return (entry.get(lang) or entry["ru"]).format(**fields)


def menu_keyboard(lang: str = "ru") -> dict[str, Any]:
    """The bot's main menu keyboard, for a recognised patient."""
    return {
        "keyboard": [
            [{"text": render("menu_visits", lang)}, {"text": render("menu_balance", lang)}],
            [{"text": render("menu_family", lang)}, {"text": render("menu_friend", lang)}],
            [{"text": render("menu_ask", lang)}, {"text": render("menu_care", lang)}],
            [{"text": render("menu_settings", lang)}, {"text": render("menu_documents", lang)}],
        ],
        "resize_keyboard": True,
        "is_persistent": True,
    }


def on_date(dt: datetime, lang: str = "ru") -> str:
    """'25 ноября 2026, 10:00': a visit's time that reads right whenever it is read (a task
    is read hours or days later, when "today" is no longer). `dt` is in the clinic's zone."""
    day, clock = dt.date(), dt.strftime("%H:%M")
    if lang == "en":
        # Not strftime's %B: that follows the process's locale.
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}, {clock}"
    return f"{day.day} {_MONTHS_RU[day.month - 1]} {day.year}, {clock}"


def when(dt: datetime, today: date, lang: str = "ru") -> str:
    """'завтра, 26 ноября, в 10:00' — how people say it, in the clinic's local time."""
    day = dt.date()
    clock = dt.strftime("%H:%M")
    if lang == "en":
        rel = {0: "today", 1: "tomorrow"}.get((day - today).days)
        label = f"{day.strftime('%d %B')}"
        return f"{rel + ', ' if rel else ''}{label} at {clock}"
    rel = {0: "сегодня", 1: "завтра", 2: "послезавтра"}.get((day - today).days)
    label = f"{day.day} {_MONTHS_RU[day.month - 1]}"
    if rel:
        return f"{rel}, {label}, в {clock}"
    # «во вторник», «в среду»: в becomes во before в and a consonant.
    on = "во" if day.weekday() == 1 else "в"
    return f"{on} {_WEEKDAYS_RU[day.weekday()]}, {label}, в {clock}"
