"""Patients: who is connected, their visits, confirmations and bonus balance."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import func, select

from app.extensions import db
from app.permissions import requires
from app.views.loyalty import patient_card
from core.models import (
    Appointment,
    Doctor,
    Patient,
    PatientLink,
    Payment,
    Subscriber,
)
from core.patients import search
from core.phones import normalize

MAX_PAGE = 1_000_000  # 50 million patients

bp = Blueprint("patients", __name__, url_prefix="/patients")

PAGE_SIZE = 50


@bp.route("/")
@requires("panel.view")
def index() -> Any:
    s = db.session
    q = request.args.get("q", "").strip()
    only_connected = request.args.get("connected") == "1"
    # Bounded: an offset past 2**63 is an OverflowError in the driver, not an empty page.
    page = min(max(request.args.get("page", 1, type=int), 1), MAX_PAGE)
    stmt = select(Patient).where(Patient.status != "deleted")
    if q:
        phone = normalize(q, current_app.config["KABINET"].clinic.phone_region)
        stmt = stmt.where(search.condition(s(), q, phone))
    if only_connected:
        stmt = stmt.where(Patient.mis_id.in_(select(PatientLink.patient_mis_id)))
    # The page and the count of all matches in one read (a window count is taken before
    # the LIMIT): where the search cannot use its index (PostgreSQL, under three letters)
    # each read scans every patient, and a separate count would be a second scan.
    rows = s.execute(
        stmt.add_columns(func.count().over())
        .order_by(Patient.last_name, Patient.first_name)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    patients = [row[0] for row in rows]
    total = int(rows[0][1]) if rows else 0
    if not rows and page > 1:  # a page past the last: the count alone, for the pager
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    connected = set(
        s.scalars(
            select(PatientLink.patient_mis_id).where(
                PatientLink.patient_mis_id.in_([p.mis_id for p in patients])
            )
        )
    )
    return render_template(
        "patients.html",
        patients=patients,
        connected=connected,
        q=q,
        only_connected=only_connected,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        total=total,
    )


@bp.route("/<mis_id>")
@requires("panel.view")
def detail(mis_id: str) -> Any:
    s = db.session
    patient = s.scalar(select(Patient).where(Patient.mis_id == mis_id))
    if patient is None:
        abort(404)
    tz = current_app.config["KABINET"].clinic.tz
    visits = s.execute(
        select(Appointment, Doctor)
        .outerjoin(Doctor, Doctor.mis_id == Appointment.doctor_mis_id)
        .where(Appointment.patient_mis_id == mis_id)
        .order_by(Appointment.starts_at.desc())
        .limit(50)
    ).all()
    subscribers = s.scalars(
        select(Subscriber)
        .join(PatientLink, PatientLink.subscriber_id == Subscriber.id)
        .where(PatientLink.patient_mis_id == mis_id)
    ).all()
    payments = s.scalars(
        select(Payment)
        .where(Payment.patient_mis_id == mis_id)
        .order_by(Payment.paid_at.desc())
        .limit(20)
    ).all()
    return render_template(
        "patient.html",
        patient=patient,
        visits=visits,
        subscribers=subscribers,
        card=patient_card(db.session(), current_app.config["KABINET"], patient),
        payments=payments,
        tz=tz,
    )
