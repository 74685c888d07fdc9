"""Texts of the patient's account (issue 11): consent, recognition, ratings on any scale.

Kept apart from core/texts/__init__.py, which merges them into its CATALOGUE, so that module stays
readable. Russian first, English beside it.
"""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    # -- consent to personal data processing --
    "consent_request": {
        "ru": "Здравствуйте! Это бот клиники «{clinic}»: здесь ваши визиты, бонусы и связь с "
        "администратором.\n\nСначала — согласие на обработку персональных данных:\n\n{text}",
        "en": "Hello! This is the bot of {clinic}: your visits, bonuses and a chat with the "
        "front desk.\n\nFirst, the consent to the processing of personal data:\n\n{text}",
    },
    "consent_default_text": {
        "ru": "Я соглашаюсь, что клиника «{clinic}» обрабатывает мои персональные данные "
        "(имя, номер телефона, сведения о визитах) для записи, напоминаний о визитах, связи "
        "со мной и бонусной программы. Согласие можно отозвать, написав в клинику.",
        "en": "I agree that {clinic} processes my personal data (name, phone number, visit "
        "details) for bookings, visit reminders, contacting me and the bonus programme. The "
        "consent can be withdrawn by writing to the clinic.",
    },
    "btn_consent_accept": {"ru": "✅ Согласен(на)", "en": "✅ I agree"},
    "btn_consent_decline": {"ru": "Не согласен(на)", "en": "I do not agree"},
    "consent_accepted": {
        "ru": "Спасибо! Теперь нажмите «Поделиться номером» ниже, чтобы мы вас узнали.",
        "en": "Thank you! Now press “Share my number” below so that we recognise you.",
    },
    "consent_declined": {
        "ru": "Хорошо, мы ничего о вас не сохранили. Без согласия бот не может показывать "
        "визиты и бонусы. {reach} Передумаете — отправьте /start.",
        "en": "All right, we have kept nothing about you. Without the consent the bot cannot "
        "show visits and bonuses. {reach} If you change your mind, send /start.",
    },
    "consent_reach_phone": {
        "ru": "Записаться и задать вопрос можно по телефону клиники {phone}.",
        "en": "You can book or ask a question by calling the clinic at {phone}.",
    },
    "consent_reach_visit": {
        "ru": "Записаться и задать вопрос можно в самой клинике.",
        "en": "You can book or ask a question at the clinic itself.",
    },
    "consent_first": {
        "ru": "Сначала нужно согласие на обработку персональных данных — номер мы пока не "
        "сохранили.",
        "en": "The consent to personal data processing comes first — we have not kept the number.",
    },
    "consent_done_already": {
        "ru": "Согласие уже получено.",
        "en": "The consent is already given.",
    },
    # -- recognition --
    "who_are_you": {
        "ru": "На этот номер в клинике записаны несколько пациентов. Кто вы?",
        "en": "Several patients have this number at the clinic. Who are you?",
    },
    "btn_family_all": {"ru": "👪 Мы семья — все", "en": "👪 We are a family — all"},
    "family_pending": {
        "ru": "Передали администратору: он подтвердит, что это одна семья. А пока выберите, "
        "кто вы.",
        "en": "We have asked the front desk to confirm you are one family. Meanwhile, please "
        "choose who you are.",
    },
    "task_family_confirm": {
        "ru": "👪 Номер {phone} (Telegram: {tg_name}) просит связать как семью: {names}. "
        "В МИС это не одна семья — проверьте и при необходимости объедините в МИС.",
        "en": "👪 The number {phone} (Telegram: {tg_name}) asks to be linked as a family: "
        "{names}. The MIS does not have them as one family — check and join them in the MIS "
        "if right.",
    },
    "who_stale": {
        "ru": "Этот выбор уже неактуален.",
        "en": "This choice is no longer current.",
    },
    "not_found_keep": {
        "ru": "Не нашли пациента с номером {phone}. Мы передали администратору — с вами "
        "свяжутся. Если в клинике у вас другой номер, поделитесь им с того телефона, кнопкой "
        "ниже.",
        "en": "We could not find a patient with the number {phone}. The front desk has been "
        "told and will contact you. If the clinic has another number of yours, share it from "
        "that phone with the button below.",
    },
    "already_linked": {
        "ru": "{name}, вы уже подключены — ничего делать не нужно.",
        "en": "{name}, you are already connected — nothing else to do.",
    },
    "task_second_account": {
        "ru": "👥 Ещё один Telegram-аккаунт ({tg_name}) подключился к пациенту {patient} "
        "({phone}); прежний тоже остаётся. Если это не тот человек — свяжитесь с пациентом.",
        "en": "👥 Another Telegram account ({tg_name}) has connected to {patient} ({phone}); "
        "the earlier one stays too. If this is not the right person, contact the patient.",
    },
    "unlinked_gone": {
        "ru": "Ваша карта в клинике «{clinic}» закрыта, поэтому бот больше не будет присылать "
        "сообщения. Спасибо, что были с нами! {reach}",
        "en": "Your record at {clinic} has been closed, so the bot will send no more messages. "
        "Thank you for being with us! {reach}",
    },
    # -- ratings on the clinic's scale --
    "rating_request_10": {
        "ru": "{name}, как прошёл визит {when}, {doctor}? Оцените, пожалуйста, от 1 до 10.",
        "en": "{name}, how was your visit {when}, {doctor}? Please rate it from 1 to 10.",
    },
    "rating_request_smileys": {
        "ru": "{name}, как прошёл визит {when}, {doctor}? Выберите, пожалуйста, смайлик.",
        "en": "{name}, how was your visit {when}, {doctor}? Please choose a face.",
    },
    "rating_comment_ask": {
        "ru": "Если хотите, напишите пару слов: что понравилось или что нам улучшить.",
        "en": "If you like, write a few words: what you liked or what we should improve.",
    },
    "btn_no_comment": {"ru": "Без комментария", "en": "No comment"},
    "btn_discuss_manager": {"ru": "Обсудить с руководством", "en": "Talk to the management"},
    "rating_comment_thanks": {
        "ru": "Спасибо, мы передали ваш комментарий.",
        "en": "Thank you, we have passed your comment on.",
    },
    "rating_comment_skipped": {"ru": "Хорошо, спасибо!", "en": "All right, thank you!"},
    "manager_discussion_opened": {
        "ru": "Передали руководству клиники: с вами свяжутся. Можете написать здесь, что "
        "случилось, — сообщение попадёт к ним.",
        "en": "We have told the clinic's management: they will contact you. You can write "
        "here what happened — it will reach them.",
    },
    "task_manager_discussion": {
        "ru": "🧑‍💼 Для руководства: {patient} ({phone}) после оценки {score} просит обсудить "
        "визит {when}, {doctor}.",
        "en": "🧑‍💼 For the management: {patient} ({phone}) rated {score} and asks to discuss "
        "the visit {when}, {doctor}.",
    },
    "staff_ping_managers": {
        "ru": "🧑‍💼 Задача #{id} — для руководства: пациент просит обсудить визит. {who}",
        "en": "🧑‍💼 Task #{id} is for the management: a patient asks to discuss a visit. {who}",
    },
    "task_rating_comment": {
        "ru": "💬 Комментарий к оценке {score}: {comment}",
        "en": "💬 Comment on the rating {score}: {comment}",
    },
}
