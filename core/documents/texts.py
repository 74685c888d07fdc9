"""Patient texts of documents to sign (merged into core.texts.CATALOGUE). Russian first."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "doc_offer": {
        "ru": "Документ на подпись: «{title}».\n\nПрочитайте его. Чтобы подписать простой "
        "электронной подписью, нажмите «Подписать»: {how}. Вопрос по документу — «Есть "
        "вопросы». Подписать можно до {until}.",
        "en": "A document to sign: “{title}”.\n\nPlease read it. To sign it with a simple "
        "electronic signature press “Sign”: {how}. A question about it: “I have questions”. "
        "It can be signed until {until}.",
    },
    "doc_how_sms": {
        "ru": "придёт SMS с кодом на номер из вашей карты",
        "en": "a code will come by SMS to the number on your card",
    },
    "doc_how_chat": {
        "ru": "бот покажет код, его нужно отправить в ответ",
        "en": "the bot will show a code to send back",
    },
    "btn_doc_sign": {"ru": "✍️ Подписать", "en": "✍️ Sign"},
    "btn_doc_question": {"ru": "Есть вопросы", "en": "I have questions"},
    "btn_doc_decline": {"ru": "Не подписывать", "en": "Do not sign"},
    "doc_declined": {
        "ru": "Вы отказались подписывать «{title}»: ничего не подписано, клиника это увидит. "
        "Передумаете — попросите прислать документ снова.",
        "en": "You declined to sign “{title}”: nothing is signed, and the clinic will see "
        "it. If you change your mind, ask the clinic to send it again.",
    },
    "doc_agreement": {
        "ru": "Перед первой подписью — соглашение об использовании простой электронной "
        "подписи (версия {version}):\n\n{text}\n\nВводя код, вы принимаете это соглашение и "
        "подписываете документ «{title}».",
        "en": "Before the first signature, the agreement on using a simple electronic "
        "signature (version {version}):\n\n{text}\n\nBy entering the code you accept it and "
        "sign “{title}”.",
    },
    "doc_code_sms": {
        "ru": "Код для подписи «{title}» отправлен SMS на номер …{tail}. Отправьте его сюда "
        "(6 цифр). Код действует 10 минут; никому его не сообщайте.",
        "en": "The code to sign “{title}” was sent by SMS to …{tail}. Send it here (6 digits). "
        "It is valid for 10 minutes; do not tell it to anyone.",
    },
    "doc_code_chat": {
        "ru": "Чтобы подписать «{title}», отправьте в ответ код: {code}\nКод действует 10 минут.",
        "en": "To sign “{title}” send this code back: {code}\nIt is valid for 10 minutes.",
    },
    "doc_sms_text": {
        "ru": "Код для подписи документа «{title}»: {code}. Никому не сообщайте.",
        "en": "Code to sign “{title}”: {code}. Do not tell anyone.",
    },
    "doc_signed": {
        "ru": "Документ «{title}» подписан {when}. Подписанная копия — ниже; она есть и в "
        "«Мои документы» (/documents).",
        "en": "“{title}” is signed, {when}. The signed copy is below; it is also in /documents.",
    },
    "doc_signed_caption": {
        "ru": "«{title}»: подписанная копия",
        "en": "“{title}”: the signed copy",
    },
    "doc_code_wrong": {
        "ru": "Код не подошёл. Осталось попыток: {left}.",
        "en": "Wrong code. Attempts left: {left}.",
    },
    "doc_code_other": {
        "ru": "Это код для другого документа («{other}»), он больше не действует. Ничего не "
        "подписано. Осталось попыток: {left}.",
        "en": "That code was for another document (“{other}”) and no longer works. Nothing is "
        "signed. Attempts left: {left}.",
    },
    "doc_locked": {
        "ru": "Пять неверных кодов: подпись «{title}» заблокирована до {until}. Мы сообщили "
        "администратору.",
        "en": "Five wrong codes: signing “{title}” is locked until {until}. The clinic has "
        "been told.",
    },
    "doc_still_locked": {
        "ru": "Подпись «{title}» заблокирована до {until} после пяти неверных кодов.",
        "en": "Signing “{title}” is locked until {until} after five wrong codes.",
    },
    "doc_code_expired": {
        "ru": "Код истёк. Нажмите «Подписать» ещё раз — придёт новый.",
        "en": "The code has expired. Press “Sign” again for a new one.",
    },
    "doc_no_code": {
        "ru": "Этот код ничего не подписывает: сначала нажмите «Подписать» под документом.",
        "en": "This code signs nothing: press “Sign” under the document first.",
    },
    "doc_not_yours": {
        "ru": "Этот документ отправлен не в этот чат: ничего не подписано.",
        "en": "This document was not sent to this chat: nothing is signed.",
    },
    "doc_unlinked": {
        "ru": "Этот чат больше не связан с картой пациента, для которого документ: ничего не "
        "подписано. Обратитесь в клинику.",
        "en": "This chat is no longer linked to the patient the document is for: nothing is "
        "signed. Please contact the clinic.",
    },
    "doc_state_signed": {
        "ru": "Документ уже подписан {when}.",
        "en": "The document is already signed ({when}).",
    },
    "doc_state_expired": {
        "ru": "Срок подписи истёк {when}: ничего не подписано. Попросите клинику прислать "
        "документ снова.",
        "en": "The time to sign ran out on {when}: nothing is signed. Ask the clinic to send "
        "it again.",
    },
    "doc_state_withdrawn": {
        "ru": "Клиника отозвала этот документ: ничего не подписано.",
        "en": "The clinic withdrew this document: nothing is signed.",
    },
    "doc_state_void": {
        "ru": "Документ изменён после отправки, этот вариант недействителен: ничего не "
        "подписано. Клиника пришлёт новый.",
        "en": "The document was changed after it was sent; this version is void and nothing "
        "is signed. The clinic will send the new one.",
    },
    "doc_state_declined": {
        "ru": "Документ отклонён: ничего не подписано.",
        "en": "The document was declined: nothing is signed.",
    },
    "doc_unavailable": {
        "ru": "Подпись сейчас недоступна: в клинике не настроена отправка кода. Ничего не "
        "подписано; мы сообщили администратору.",
        "en": "Signing is unavailable now: the clinic has no way to send a code. Nothing is "
        "signed; the clinic has been told.",
    },
    "doc_question_opened": {
        "ru": "Напишите ваш вопрос по документу «{title}» — администратор ответит здесь.",
        "en": "Write your question about “{title}”; the front desk will answer here.",
    },
    "doc_voided_notice": {
        "ru": "Документ «{title}» изменён в клинике: отправленный вариант больше не подписывается.",
        "en": "“{title}” was changed at the clinic: the version sent can no longer be signed.",
    },
    "doc_withdrawn_notice": {
        "ru": "Клиника отозвала документ «{title}»: подписывать его не нужно.",
        "en": "The clinic withdrew “{title}”: there is no need to sign it.",
    },
    "doc_mine_none": {
        "ru": "Подписанных документов пока нет.",
        "en": "No signed documents yet.",
    },
    "doc_mine_head": {"ru": "Ваши документы:", "en": "Your documents:"},
    "doc_mine_signed": {
        "ru": "✅ «{title}» — подписан {when}",
        "en": "✅ “{title}”, signed {when}",
    },
    "doc_mine_waiting": {
        "ru": "✍️ «{title}» — ждёт подписи до {when}",
        "en": "✍️ “{title}”, to sign by {when}",
    },
    "btn_doc_copy": {"ru": "Копия: {title}", "en": "Copy: {title}"},
    "doc_copy_caption": {"ru": "«{title}»: подписанная копия", "en": "“{title}”: signed copy"},
    "menu_documents": {"ru": "📄 Мои документы", "en": "📄 My documents"},
    "cmd_documents": {"ru": "Мои документы", "en": "My documents"},
}
