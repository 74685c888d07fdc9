"""Who a patient is to Kabinet: `linking` (a chat to a patient by a proven number, and the
look-ups), `persons` (one person behind chats in several messengers), `consent`, `family`
(members and invites), `notice_prefs` (which notices a chat wants), `referral_qr` (the
friend link as a picture) and `gone` (a card archived or deleted in the MIS).

Empty on purpose: the thread imports `persons` while `linking` opens threads, so nothing
here may import either."""
