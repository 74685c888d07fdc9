"""Texts of the review and social bonus asked for with a screenshot (issue 11 part 7), and
of what the bot answers to a message it cannot read (part 8). Merged into
core.texts.CATALOGUE; Russian first, English beside."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "btn_screenshot_review": {
        "ru": "📸 Получить бонус за отзыв",
        "en": "📸 Get a bonus for a review",
    },
    "btn_screenshot_social": {
        "ru": "📸 Получить бонус за публикацию",
        "en": "📸 Get a bonus for a post",
    },
    # The bonus is for the fact of a review: the texts never ask for a good one.
    "screenshot_ask_review": {
        "ru": "Пришлите, пожалуйста, скриншот вашего опубликованного отзыва о клинике "
        "(Яндекс, 2ГИС, ПроДокторов или другая площадка) одной картинкой. Бонусы ({points}) "
        "начисляются за сам отзыв, каким бы он ни был, после проверки администратором.",
        "en": "Please send a screenshot of your published review of the clinic (Yandex, 2GIS, "
        "ProDoctorov or another site) as one picture. The bonus ({points} points) is for the "
        "review itself, whatever it says, once an administrator has checked it.",
    },
    "screenshot_ask_social": {
        "ru": "Пришлите, пожалуйста, скриншот вашей публикации о клинике (Telegram, ВКонтакте "
        "или другая сеть) одной картинкой. Бонусы ({points}) начисляются за сам факт "
        "публикации после проверки администратором.",
        "en": "Please send a screenshot of your post about the clinic (Telegram, VK or another "
        "network) as one picture. The bonus ({points} points) is for the post itself, once an "
        "administrator has checked it.",
    },
    "screenshot_off": {
        "ru": "Сейчас клиника не начисляет бонусы за отзывы и публикации.",
        "en": "The clinic does not give bonuses for reviews and posts at the moment.",
    },
    "screenshot_received": {
        "ru": "Спасибо! Скриншот получен. Администратор проверит его и начислит бонусы — "
        "мы напишем вам здесь.",
        "en": "Thank you! We have the screenshot. An administrator will check it and add the "
        "bonus — we will let you know here.",
    },
    "screenshot_approved": {
        "ru": "Спасибо за отзыв! Начислено {points} бонусов.",
        "en": "Thank you for the review! {points} bonus points have been added.",
    },
    "screenshot_already": {
        "ru": "Спасибо! Бонусы за отзыв на этой площадке уже были начислены раньше.",
        "en": "Thank you! The bonus for a review on this site was already added before.",
    },
    "screenshot_rejected": {
        "ru": "Спасибо, что прислали скриншот! К сожалению, начислить бонусы по нему не "
        "получилось: на нём не видно опубликованного отзыва или за него бонусы уже "
        "начислены. Если это ошибка — напишите нам здесь, мы разберёмся.",
        "en": "Thank you for the screenshot! Unfortunately we could not add the bonus for it: "
        "it does not show a published review, or the bonus for it was already added. If this "
        "is a mistake, write to us here and we will sort it out.",
    },
    # Part 8: what else a patient may send.
    "line_animation": {"ru": "🎞 GIF-анимация", "en": "🎞 GIF"},
    "unsupported_message": {
        "ru": "Такое сообщение бот не может передать администратору. Напишите, пожалуйста, "
        "текстом, пришлите фото, файл или голосовое — мы ответим здесь.",
        "en": "The bot cannot pass this kind of message to the clinic. Please write it as text, "
        "or send a photo, a file or a voice message — we will answer here.",
    },
    # Staff wording (the clinic's language), in the thread and the task.
    "screenshot_asked_review": {
        "ru": "Пациент нажал «Получить бонус за отзыв»",
        "en": "The patient pressed «Get a bonus for a review»",
    },
    "screenshot_asked_social": {
        "ru": "Пациент нажал «Получить бонус за публикацию»",
        "en": "The patient pressed «Get a bonus for a post»",
    },
    "screenshot_what_review": {"ru": "отзыва", "en": "a review"},
    "screenshot_what_social": {"ru": "публикации", "en": "a post"},
    "task_screenshot": {
        "ru": "Скриншот {what} для бонуса: {patient}, {phone}. Проверьте и одобрите или "
        "отклоните в переписке.\n{text}",
        "en": "A screenshot of {what} for a bonus: {patient}, {phone}. Check it and approve or "
        "reject it in the thread.\n{text}",
    },
}
