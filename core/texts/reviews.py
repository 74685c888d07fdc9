"""Patient texts of the review buttons, one per platform (core/ratings/review_links.py).
The button names the platform, so a patient offered several knows which opens which."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "btn_review_yandex": {
        "ru": "✍️ Оставить отзыв на Яндекс Картах",
        "en": "✍️ Leave a review on Yandex Maps",
    },
    "btn_review_2gis": {"ru": "✍️ Оставить отзыв в 2ГИС", "en": "✍️ Leave a review on 2GIS"},
    "btn_review_prodoctorov": {
        "ru": "✍️ Оставить отзыв на ПроДокторов",
        "en": "✍️ Leave a review on ProDoctorov",
    },
    "btn_review_google": {"ru": "✍️ Оставить отзыв в Google", "en": "✍️ Leave a review on Google"},
    # «другая» площадка with the clinic's own name for it; without a name, btn_review.
    "btn_review_named": {"ru": "✍️ Оставить отзыв: {name}", "en": "✍️ Leave a review: {name}"},
}
