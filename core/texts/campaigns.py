"""Patient texts of campaigns: the recall's «Записаться» button and its answer."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "btn_campaign_book": {"ru": "📅 Записаться", "en": "📅 Book a visit"},
    "campaign_booking_received": {
        "ru": "Спасибо! Администратор свяжется с вами, чтобы подобрать время визита.",
        "en": "Thank you! The front desk will contact you to find a time for your visit.",
    },
    # The line the booking episode opens with, for the staff (Russian: the panel's language).
    "campaign_booking_task": {
        "ru": "Хочет записаться (ответ на рассылку «{title}»)",
        "en": "Wants to book a visit (a reply to the mailing “{title}”)",
    },
}
