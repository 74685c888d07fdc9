"""The groups of «Настройки → Тексты сообщений» and the texts in each, as the screen shows
them: (catalogue key, Russian label[, extra placeholders | BUTTON]). Built into Template
rows by core/settings/template_registry.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    name: str
    slug: str  # the group's anchor and ?group= on the screen
    note: str = ""  # shown under the group's name


BUTTON = "button"  # an inline button's label: one short line
COMMAND = "command"  # a «/» menu command's description: one line the messengers show

_C = ("clinic",)  # a bot reply (BotContext.text) or a bonus notice: the clinic's name too
_B = BUTTON

# Texts of the screen's first release keep their placeholders in the order shown
# then (the owner's refusals name them so).
_VISIT = ("name", "when", "doctor")
_NOTICE = ("name", "clinic", "when", "doctor")  # core/rules.py notify_patient
EXPLICIT: dict[str, tuple[str, ...]] = {
    "booked": _NOTICE,
    "moved": _NOTICE,
    "cancelled": ("name", "clinic", "when"),
    "reminder": _VISIT,
    "awaiting": ("name", "time", "doctor", "address"),
    "reminder_sms": ("name", "when", "doctor", "clinic", "phone"),
    "rating_request": _VISIT,
    "rating_request_10": _VISIT,
    "rating_request_smileys": _VISIT,
    "no_show_message": ("name", "when", "doctor", "clinic"),
}

# (group, [(key, label[, extra fields | "button"]...)])
GROUP_ENTRIES: list[tuple[Group, list[tuple]]] = [
    (
        Group("Запись на приём", "booking"),
        [
            ("booked", "Пациент записан"),
            ("moved", "Визит перенесён"),
            ("cancelled", "Визит отменён"),
        ],
    ),
    (
        Group("Напоминания о визите", "reminders"),
        [
            ("reminder", "Напоминание (за дни или часы)"),
            ("awaiting", "В день визита («ждём вас сегодня»)"),
            ("awaiting_address", "Строка с адресом в «ждём вас сегодня»"),
            ("reminder_sms", "Напоминание по SMS"),
            ("btn_confirm", "Кнопка «Подтверждаю»", _B),
            ("btn_reschedule", "Кнопка «Перенести»", _B),
            ("btn_cancel_visit", "Кнопка «Отменить»", _B),
            ("confirmed", "Ответ на «Подтверждаю»"),
            ("reschedule_requested", "Ответ на «Перенести»", _C),
            ("already_answered", "На кнопку, на которую уже ответили"),
            ("visit_not_current", "На кнопку визита, который уже отменён или прошёл", _C),
        ],
    ),
    (
        Group("Перенос и отмена визита", "reschedule"),
        [
            ("reschedule_days", "Вопрос «какие дни удобны»"),
            ("days_weekdays", "Кнопка «Будни»", _B),
            ("days_weekend", "Кнопка «Выходные»", _B),
            ("days_any", "Кнопка «Любой день»", _B),
            ("reschedule_parts", "Вопрос «в какое время дня»", _C),
            ("part_morning", "Кнопка «Утро»", _B),
            ("part_afternoon", "Кнопка «День»", _B),
            ("part_evening", "Кнопка «Вечер»", _B),
            ("part_any", "Кнопка «Любое время»", _B),
            ("cancel_reason_ask", "Вопрос о причине отмены"),
            ("reason_ill", "Кнопка причины «Заболел(а)»", _B),
            ("reason_plans", "Кнопка причины «Изменились планы»", _B),
            ("reason_elsewhere", "Кнопка причины «Лечусь в другом месте»", _B),
            ("reason_better", "Кнопка причины «Уже не беспокоит»", _B),
            ("cancel_requested", "Ответ после отмены"),
        ],
    ),
    (
        Group("Приход в клинику", "arrival"),
        [
            ("arrival_welcome", "Приветствие в холле"),
            ("arrival_offer", "Приветствие в холле с предложением"),
            ("arrival_offer_taken", "Ответ на выбор из предложения", _C),
        ],
    ),
    (
        Group("Неявка", "no-show"),
        [
            ("no_show_message", "Пациент не пришёл: предложение записаться снова"),
            ("btn_rebook", "Кнопка «Записаться снова»", _B),
        ],
    ),
    (
        Group("Оценка визита", "ratings"),
        [
            ("rating_request", "Просьба оценить визит (1–5)"),
            ("rating_request_10", "Просьба оценить визит (1–10)"),
            ("rating_request_smileys", "Просьба оценить визит (смайлики)"),
            ("rating_review_invite", "Приглашение оставить отзыв"),
            ("btn_review", "Кнопка «Оставить отзыв»", _B),
            ("btn_review_yandex", "Кнопка отзыва на Яндекс Картах", _B),
            ("btn_review_2gis", "Кнопка отзыва в 2ГИС", _B),
            ("btn_review_prodoctorov", "Кнопка отзыва на ПроДокторов", _B),
            ("btn_review_google", "Кнопка отзыва в Google", _B),
            ("btn_review_named", "Кнопка отзыва на другой площадке", _B),
            ("rating_thanks", "Спасибо за оценку"),
            ("rating_thanks_low", "Ответ на низкую оценку"),
            ("rating_comment_ask", "Просьба написать комментарий"),
            ("btn_no_comment", "Кнопка «Без комментария»", _B),
            ("btn_discuss_manager", "Кнопка «Обсудить с руководством»", _B),
            ("rating_comment_thanks", "Спасибо за комментарий", _C),
            ("rating_comment_skipped", "Ответ на «Без комментария»", _C),
            ("manager_discussion_opened", "Ответ на «Обсудить с руководством»", _C),
        ],
    ),
    (
        Group("Сообщение в клинику", "messages"),
        [
            ("message_received_open", "Ответ на сообщение в рабочее время"),
            ("message_received_closed", "Ответ на сообщение в нерабочее время"),
            ("ask_prompt", "Приглашение написать вопрос", _C),
            ("file_too_big", "Файл слишком большой"),
            ("unsupported_message", "Сообщение, которое бот не может передать", _C),
        ],
    ),
    (
        Group("Поздравления и рассылки", "mailings"),
        [
            ("birthday", "С днём рождения"),
            ("btn_unsubscribe", "Кнопка «Отписаться от рассылок»", _B),
            ("unsubscribed", "Ответ на отписку", _C),
            ("subscribed", "Ответ на /subscribe", _C),
            ("btn_campaign_book", "Кнопка рассылки «Записаться»", _B),
            ("campaign_booking_received", "Ответ на «Записаться» из рассылки", _C),
        ],
    ),
    (
        Group(
            "Знакомство и согласие",
            "consent",
            "Сам текст согласия на обработку персональных данных здесь не меняется: он "
            "хранится версиями на странице «Согласие», и у каждого пациента записано, какую "
            "версию он принял. Здесь — обрамление: приветствие перед ним ({text}) и ответы.",
        ),
        [
            ("consent_request", "Приветствие с текстом согласия", _C),
            ("btn_consent_accept", "Кнопка «Согласен(на)»", _B),
            ("btn_consent_decline", "Кнопка «Не согласен(на)»", _B),
            ("consent_accepted", "Ответ на согласие", _C),
            ("consent_declined", "Ответ на отказ от согласия", _C),
            ("consent_reach_phone", "Как связаться с клиникой: по телефону"),
            ("consent_reach_visit", "Как связаться с клиникой: в самой клинике"),
            ("consent_first", "Номер прислали до согласия", _C),
            ("consent_done_already", "Согласие уже получено", _C),
            ("share_contact_button", "Кнопка «Поделиться номером»", _B),
            ("contact_not_own", "Прислали чужой контакт", _C),
            ("typed_phone_refused", "Номер набрали вручную", _C),
            ("greeting", "Пациент узнан", _C),
            ("greeting_family", "Пациент узнан, к номеру привязаны и другие", _C),
            ("who_are_you", "На номер записаны несколько пациентов: «Кто вы?»", _C),
            ("btn_family_all", "Кнопка «Мы семья — все»", _B),
            ("family_pending", "Семью подтвердит администратор", _C),
            ("who_stale", "Выбор «кто вы» уже неактуален", _C),
            ("not_found_keep", "Пациент с номером не найден", _C),
            ("linked_later", "Карта появилась позже, пациент узнан"),
            ("already_linked", "Пациент уже подключён", _C),
            ("need_link", "Сначала «Поделиться номером»", _C),
            ("unlinked_gone", "Карта закрыта: бот больше не пишет"),
        ],
    ),
    (
        Group("Подтверждение номера кодом", "phone-code"),
        [
            ("phone_code_sent", "Код отправлен по SMS", _C),
            ("phone_code_sms", "SMS с кодом"),
            ("phone_code_staff", "Код назовёт администратор", _C),
            ("phone_code_wrong", "Код не подошёл", _C),
            ("phone_code_burnt", "Слишком много неверных попыток", _C),
            ("phone_code_wait", "Код уже отправлен, новый — через минуту", _C),
            ("phone_code_none", "Код прислали, когда его не ждали", _C),
        ],
    ),
    (
        Group("Бонусы", "bonuses"),
        [
            ("bonus_accrued", "Начислены бонусы за оплату", _C),
            ("bonus_accrued_family", "Начислены бонусы на семейный счёт", _C),
            ("bonus_spent", "Списаны бонусы", _C),
            ("bonus_reversed", "Оплата возвращена, бонусы списаны", _C),
            ("bonus_reversed_family", "Оплата возвращена, бонусы списаны с семейного счёта", _C),
            ("bonus_refund_partial", "Часть оплаты возвращена", _C),
            ("bonus_refund_partial_family", "Часть оплаты возвращена (семейный счёт)", _C),
            ("bonus_granted", "Бонусы от клиники", _C),
            ("bonus_review", "Бонусы за отзыв", _C),
            ("bonus_social", "Бонусы за публикацию", _C),
            ("welcome_bonus", "Приветственные бонусы", _C),
            ("birthday_bonus", "Бонусы ко дню рождения (со сроком)", _C),
            ("birthday_bonus_forever", "Бонусы ко дню рождения (бессрочные)", _C),
            ("expiry_reminder", "Бонусы скоро сгорят", _C),
            ("balance_threshold", "Накопилось бонусов на скидку", _C),
            ("balance", "«Мои бонусы»: баланс", _C),
            ("balance_family", "«Мои бонусы»: семейный счёт", _C),
            ("balance_expiry", "«Мои бонусы»: ближайшее сгорание", _C),
            ("balance_tier", "«Мои бонусы»: уровень", _C),
            ("btn_mute", "Кнопка «Без уведомлений о бонусах»", _B),
            ("btn_unmute", "Кнопка «Уведомлять о бонусах»", _B),
            ("notices_muted", "Уведомления о бонусах выключены"),
            ("notices_unmuted", "Уведомления о бонусах включены"),
            ("bonus_history", "История бонусов: заголовок", _C),
            ("bonus_history_none", "История бонусов: движений нет", _C),
            ("bonus_history_item", "История бонусов: строка", _C),
            ("ledger_accrual", "В истории: «за оплату»"),
            ("ledger_welcome", "В истории: «приветственные»"),
            ("ledger_referral", "В истории: «за приглашение друга»"),
            ("ledger_birthday", "В истории: «ко дню рождения»"),
            ("ledger_review", "В истории: «за отзыв»"),
            ("ledger_social", "В истории: «за публикацию»"),
            ("ledger_staff", "В истории: «от клиники» (начислил сотрудник)"),
            ("ledger_manual", "В истории: «от клиники» (ручная операция)"),
            ("ledger_redemption", "В истории: «оплата бонусами» (списание)"),
            ("ledger_spend", "В истории: «оплата бонусами» (трата)"),
            ("ledger_reversal", "В истории: «возврат оплаты»"),
            ("ledger_expiry", "В истории: «сгорели»"),
            ("ledger_transfer", "В истории: «перенос на семейный счёт»"),
            ("ledger_other", "В истории: прочее изменение баланса"),
        ],
    ),
    (
        Group("Бонусы за отзыв и публикацию (скриншот)", "screenshots"),
        [
            ("btn_screenshot_review", "Кнопка «Получить бонус за отзыв»", _B),
            ("btn_screenshot_social", "Кнопка «Получить бонус за публикацию»", _B),
            ("screenshot_ask_review", "Просьба прислать скриншот отзыва"),
            ("screenshot_ask_social", "Просьба прислать скриншот публикации"),
            ("screenshot_off", "Бонусы за отзывы сейчас не начисляются", _C),
            ("screenshot_received", "Скриншот получен"),
            ("screenshot_approved", "Скриншот одобрен, бонусы начислены"),
            ("screenshot_already", "Бонусы за эту площадку уже были"),
            ("screenshot_rejected", "Скриншот отклонён"),
        ],
    ),
    (
        Group("Рекомендации: пригласить друга", "referral"),
        [
            ("referral_invite", "«Мои бонусы»: приглашайте друзей", _C),
            ("friend_screen", "Экран «Пригласить друга»"),
            ("friend_reward", "Строка о награде за друга", _C),
            ("friend_qr", "Подпись к QR-коду", _C),
            ("btn_share", "Кнопка «Поделиться ссылкой»", _B),
            ("friend_share_text", "Текст, которым пациент делится со ссылкой"),
            ("referral_rewarded", "Друг пришёл по ссылке: бонусы пригласившему", _C),
            ("referred_rewarded", "Пришёл по приглашению: бонусы новому пациенту", _C),
        ],
    ),
    (
        Group("Памятки после визита", "care"),
        [
            ("care_notice", "Памятка после визита", _C),
            ("care_none", "«Рекомендации»: памяток нет", _C),
            ("care_item", "«Рекомендации»: памятка в списке", _C),
        ],
    ),
    (
        Group("Семья", "family"),
        [
            ("family_screen", "Экран «Семья»", _C),
            ("family_member", "Строка члена семьи", _C),
            ("family_flag_hidden", "Пометка «не показываем»", _C),
            ("family_flag_muted", "Пометка «без уведомлений»", _C),
            ("btn_family_invite", "Кнопка «Пригласить члена семьи»", _B),
            ("family_last_shown", "Нельзя скрыть последнего"),
            ("family_saved", "Сохранено"),
            ("family_invite", "Приглашение в семью", _C),
            ("family_invite_opened", "Приглашение открыто"),
            ("family_invite_gone", "Приглашение использовано или устарело", _C),
            ("family_invite_own", "Своё приглашение", _C),
            ("family_joined", "В семье теперь…", _C),
            ("family_joined_invited", "Приглашённый присоединился", _C),
            ("family_invite_staff", "Семью подтвердит администратор (приглашение)", _C),
        ],
    ),
    (
        Group("Меню и «Мои визиты»", "menu"),
        [
            ("help", "Что умеет бот (/help)"),
            ("unknown_command", "Неизвестная команда", _C),
            ("language_set", "Язык переключён", _C),
            ("not_yours", "Кнопка не для этого чата"),
            ("no_visits", "Предстоящих визитов нет", _C),
            ("visits_upcoming", "Заголовок «Предстоящие визиты»", _C),
            ("visit_item", "Строка предстоящего визита", _C),
            ("visit_where", "Адрес и карта под визитом", _C),
            ("visit_state_confirmed", "Пометка «вы подтвердили визит»"),
            ("visit_state_reschedule", "Пометка «перенос запрошен»"),
            ("visit_state_cancel", "Пометка «отмена запрошена»"),
            ("visits_past", "Заголовок «Визиты за 12 месяцев»", _C),
            ("visits_past_none", "Визитов за 12 месяцев не было", _C),
            ("visit_past_item", "Строка прошедшего визита", _C),
            ("visit_past_no_show", "Пометка «не состоялся»", _C),
        ],
    ),
    (
        Group(
            "Кнопки меню",
            "menu-buttons",
            "Пациент увидит новую надпись, когда бот в следующий раз пришлёт ему меню: по /start, "
            "после подключения номера, при смене языка. Прежние кнопки у него продолжают "
            "работать: бот узнаёт кнопку по нынешней, исходной и любой прежней надписи. Надписи "
            "разных кнопок должны различаться. В «Что умеет бот (/help)» кнопки названы "
            "отдельно — поправьте и там.",
        ),
        [
            ("menu_visits", "Кнопка меню «Мои визиты»", _B),
            ("menu_balance", "Кнопка меню «Мои бонусы»", _B),
            ("menu_family", "Кнопка меню «Семья»", _B),
            ("menu_friend", "Кнопка меню «Пригласить друга»", _B),
            ("menu_ask", "Кнопка меню «Написать в клинику»", _B),
            ("menu_care", "Кнопка меню «Рекомендации»", _B),
            ("menu_settings", "Кнопка меню «Настройки»", _B),
            ("menu_documents", "Кнопка меню «Мои документы»", _B),
        ],
    ),
    (
        Group("Настройки в боте", "bot-settings"),
        [
            ("settings_screen", "Экран «Настройки»", _C),
            ("settings_kind", "Строка вида уведомлений", _C),
            ("settings_mailings_on", "Рассылки: «включены»"),
            ("settings_mailings_off", "Рассылки: «выключены»"),
            ("notice_ratings", "Вид уведомлений: просьбы оценить визит"),
            ("notice_care", "Вид уведомлений: рекомендации после визита"),
            ("notice_loyalty", "Вид уведомлений: бонусы"),
            ("btn_language_other", "Кнопка другого языка", _B),
            ("btn_mailings_off", "Кнопка «Отключить рассылки»", _B),
            ("btn_mailings_on", "Кнопка «Включить рассылки»", _B),
            ("settings_saved", "Сохранено"),
            ("settings_unchanged", "Ничего не изменено"),
            ("settings_messenger_button", "Кнопка «Мессенджер для сообщений»", _B),
            ("messenger_screen", "Выбор мессенджера", _C),
            ("messenger_only_one", "Подключён только один мессенджер", _C),
            ("messenger_current_chosen", "Сейчас: выбранный мессенджер"),
            ("messenger_current_last", "Сейчас: где писали последним"),
            ("messenger_choose", "Кнопка «Присылать в …»", _B),
            ("messenger_choose_last", "Кнопка «Туда, где я писал(а) последним»", _B),
            ("messenger_chosen", "Мессенджер выбран", _C),
            ("messenger_chosen_last", "Выбрано «где писали последним»", _C),
            ("messenger_unknown", "Выбор больше не действует", _C),
            ("messenger_unavailable", "В этот мессенджер бот писать не может", _C),
        ],
    ),
    (
        Group(
            "Документы",
            "documents",
            "Соглашение о простой электронной подписи само не меняется здесь: оно хранится "
            "версиями (подписанные документы ссылаются на свою). Здесь — текст вокруг него "
            "({text}) и остальные сообщения о документах.",
        ),
        [
            ("doc_offer", "Документ на подпись"),
            ("doc_how_sms", "Как подписать: код по SMS"),
            ("doc_how_chat", "Как подписать: код в чате"),
            ("btn_doc_sign", "Кнопка «Подписать»", _B),
            ("btn_doc_question", "Кнопка «Есть вопросы»", _B),
            ("btn_doc_decline", "Кнопка «Не подписывать»", _B),
            ("doc_declined", "Пациент отказался подписывать"),
            ("doc_agreement", "Соглашение о подписи перед первой подписью"),
            ("doc_code_sms", "Код для подписи отправлен SMS"),
            ("doc_code_chat", "Код для подписи в чате"),
            ("doc_sms_text", "SMS с кодом для подписи"),
            ("doc_signed", "Документ подписан"),
            ("doc_signed_caption", "Подпись к подписанной копии"),
            ("doc_code_wrong", "Код не подошёл"),
            ("doc_code_other", "Код от другого документа"),
            ("doc_locked", "Подпись заблокирована после пяти неверных кодов"),
            ("doc_still_locked", "Подпись всё ещё заблокирована"),
            ("doc_code_expired", "Код истёк"),
            ("doc_no_code", "Код без нажатой «Подписать»"),
            ("doc_not_yours", "Документ отправлен в другой чат"),
            ("doc_unlinked", "Чат больше не связан с картой"),
            ("doc_state_signed", "Документ уже подписан"),
            ("doc_state_expired", "Срок подписи истёк"),
            ("doc_state_withdrawn", "Клиника отозвала документ"),
            ("doc_state_void", "Документ изменён после отправки"),
            ("doc_state_declined", "Документ отклонён"),
            ("doc_unavailable", "Подпись сейчас недоступна"),
            ("doc_question_opened", "Ответ на «Есть вопросы»"),
            ("doc_voided_notice", "Уведомление: документ изменён"),
            ("doc_withdrawn_notice", "Уведомление: документ отозван"),
            ("doc_mine_none", "«Мои документы»: подписанных нет"),
            ("doc_mine_head", "«Мои документы»: заголовок"),
            ("doc_mine_signed", "«Мои документы»: подписанный"),
            ("doc_mine_waiting", "«Мои документы»: ждёт подписи"),
            ("btn_doc_copy", "Кнопка «Копия: …»", _B),
            ("doc_copy_caption", "Подпись к копии из «Мои документы»"),
        ],
    ),
]
