"""care instructions after treatment, with disabled examples for a dental clinic

Revision ID: 0004_care
Revises: 0003
Create Date: 2026-11-25 15:00:00

Written by hand. The examples are inserted disabled: an owner reads them on the panel's
«Рекомендации после лечения» screen, adapts them and turns them on. Their text is part of
this migration, not imported from the code, so the migration stays what it was.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0004_care"
down_revision = "0003"
branch_labels = None
depends_on = None

EXAMPLES = [
    (
        "После удаления зуба",
        "удален",
        "",
        "Что делать после удаления зуба:\n"
        "• 2 часа не ешьте и не пейте; первые сутки — не горячее, не острое, не твёрдое.\n"
        "• Не полощите рот первые сутки и не трогайте лунку языком: сгусток крови в ней "
        "защищает рану.\n"
        "• Не курите и не пейте алкоголь хотя бы 2–3 дня.\n"
        "• 2–3 дня без бани, сауны, горячей ванны и тяжёлых нагрузок.\n"
        "• Чистите зубы как обычно, но аккуратно обходите место удаления.\n"
        "• Если кровь не останавливается, сильная боль или отёк нарастают через 2–3 дня, "
        "поднялась температура — позвоните в клинику.",
    ),
    (
        "После профессиональной гигиены",
        "гигиен, air flow, чистк",
        "",
        "После профессиональной чистки зубов:\n"
        "• 2 часа не ешьте, не пейте ничего, кроме воды, и не курите.\n"
        "• 1–2 дня избегайте окрашивающих продуктов: кофе, чай, красное вино, ягоды, свёкла, "
        "соусы.\n"
        "• Если зубы стали чувствительными, пользуйтесь пастой для чувствительных зубов; "
        "чувствительность обычно проходит за несколько дней.\n"
        "• Чистите зубы дважды в день и пользуйтесь зубной нитью.",
    ),
    (
        "После пломбирования",
        "пломб, кариес",
        "",
        "После установки пломбы:\n"
        "• Пока не прошла анестезия (2–3 часа), не ешьте и не пейте горячее — можно прикусить "
        "щёку или обжечься.\n"
        "• Первые сутки избегайте очень твёрдой и липкой еды на стороне пломбы.\n"
        "• Лёгкая чувствительность к холодному и горячему в первые дни — это нормально.\n"
        "• Если пломба мешает смыканию зубов или боль усиливается — позвоните в клинику, "
        "мы её подправим.",
    ),
    (
        "После имплантации",
        "имплант",
        "",
        "После установки импланта:\n"
        "• В первые 2–3 часа не ешьте; первую неделю — мягкая, не горячая пища, жуйте другой "
        "стороной.\n"
        "• Первые сутки прикладывайте холод к щеке: 15 минут через каждые 30–60 минут.\n"
        "• Не курите и не пейте алкоголь минимум неделю: это мешает приживлению.\n"
        "• Принимайте назначенные врачом лекарства строго по схеме.\n"
        "• Неделю без бани, сауны, спорта и авиаперелётов.\n"
        "• Сильная боль, кровотечение или температура выше 38 °C — звоните в клинику сразу.",
    ),
]


def upgrade() -> None:
    instructions = op.create_table(
        "care_instructions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("services", sa.String(length=1000), nullable=False),
        sa.Column("specialties", sa.String(length=500), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_instructions")),
    )
    op.create_table(
        "care_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_mis_id", sa.String(length=64), nullable=False),
        sa.Column("patient_mis_id", sa.String(length=64), nullable=False),
        sa.Column("instruction_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("visit_at", core.db.UTCDateTime(), nullable=False),
        sa.Column("sent_at", core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_sent")),
        sa.UniqueConstraint(
            "appointment_mis_id", "instruction_id", name=op.f("uq_care_sent_appointment_mis_id")
        ),
    )
    with op.batch_alter_table("care_sent", schema=None) as batch_op:
        batch_op.create_index(
            "ix_care_sent_patient_sent", ["patient_mis_id", "sent_at"], unique=False
        )

    now = datetime.now(UTC)
    op.bulk_insert(
        instructions,
        [
            {
                "title": title,
                "text": text,
                "services": services,
                "specialties": specialties,
                "delay_minutes": 30,
                "enabled": False,
                "updated_by": "",
                "created_at": now,
                "updated_at": now,
            }
            for title, services, specialties, text in EXAMPLES
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("care_sent", schema=None) as batch_op:
        batch_op.drop_index("ix_care_sent_patient_sent")
    op.drop_table("care_sent")
    op.drop_table("care_instructions")
