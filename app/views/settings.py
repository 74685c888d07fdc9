"""«Настройки» (the owner): the rating scale, reminders, quiet hours, the arrival welcome
and the review link in one screen. Each value says where it comes from (the config file or
a change made here); «вернуть значение из файла» drops the change. The values themselves
are checked and kept by core.settings; every change is in the audit log (app/audit.py
logs the panel's flushes)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from app.context import clinic_config, signed_in
from app.extensions import db
from app.permissions import requires
from core.config import REVIEW_LINKS_MAX, ConfigError, redact
from core.settings import mis_check, store, templates
from core.settings.catalogue import (
    BY_KEY,
    MIS_SETTINGS,
    REVIEW_PLATFORM_LABELS,
    SETTINGS,
    Setting,
    review_platform_label,
)

bp = Blueprint("settings", __name__, url_prefix="/settings")

PARTS = ("platform", "name", "url")  # a row of «Площадки для отзывов»: its form fields


def _session() -> Session:
    session: Session = db.session()
    return session


def _shown(setting: Setting, value: Any) -> str:
    """A value as the form's field holds it (and as the file's column reads)."""
    if setting.kind == "bool":
        return "включено" if value else "выключено"
    if setting.kind == "list":
        return ", ".join(value)
    if setting.kind == "choice":
        return dict(setting.choices).get(value, str(value))
    if setting.kind == "links":
        shown = [
            f"{review_platform_label(v['platform'], v.get('name', ''))}: {v['url']}" for v in value
        ]
        return "; ".join(shown) or "не заданы"
    return str(value)


def _link_rows(value: list[dict[str, str]]) -> list[dict[str, str]]:
    """The platforms' rows of the form: those listed, then empty ones to add more."""
    rows = [{"platform": "yandex", "name": "", "url": "", **v} for v in value]
    blanks = max(0, min(REVIEW_LINKS_MAX, len(rows) + 2) - len(rows))
    return rows + [{"platform": "yandex", "name": "", "url": ""} for _ in range(blanks)]


def _typed_links(field: str) -> list[tuple[str, str, str]] | None:
    """The rows of «Площадки для отзывов» as sent; None when the form had none."""
    count = request.form.get(f"{field}__rows", "")
    if not (count.isascii() and count.isdigit()):
        return None

    def part(name: str, i: int) -> str:
        return request.form.get(f"{field}__{name}__{i}", "")[:2000]

    return [
        (part("platform", i), part("name", i), part("url", i))
        for i in range(min(int(count), REVIEW_LINKS_MAX + 4))
    ]


def _groups(s: Session, typed: dict[str, Any] | None = None) -> list[tuple[str, list[dict]]]:
    config = clinic_config()
    in_force = store.effective(s, config)
    changed = store.changed_at(s)
    rows = []
    for setting in SETTINGS:
        value = store.file_value(in_force, setting.key)
        row = changed.get(setting.key)
        text = (typed or {}).get(setting.key)
        rows.append(
            {
                "setting": setting,
                "field": setting.key.replace(".", "__"),
                "value": value,
                # What the owner typed stays in a refused form, so it can be corrected.
                "text": _shown(setting, value) if text is None else text,
                "links": _link_rows(text if text is not None else value)
                if setting.kind == "links"
                else [],
                "file": _shown(setting, store.file_value(config, setting.key)),
                "changed": row,
            }
        )
    return [(group, list(items)) for group, items in groupby(rows, lambda r: r["setting"].group)]


@bp.route("/", methods=["GET", "POST"])
@requires("settings.edit")
def index() -> Any:
    s = _session()
    if request.method == "GET":
        return render_template(
            "settings/index.html", groups=_groups(s), platforms=REVIEW_PLATFORM_LABELS
        )
    values: dict[str, Any] = {}
    typed: dict[str, Any] = {}
    try:
        for setting in SETTINGS:
            field = setting.key.replace(".", "__")
            if setting.kind == "links":
                sent = _typed_links(field)
                if sent is not None:
                    typed[setting.key] = [dict(zip(PARTS, row, strict=True)) for row in sent]
                    values[setting.key] = store.parse_links(setting, sent)
                continue
            text = request.form.get(field)
            # A form without the field leaves it as it is; an unticked checkbox is absent
            # from the form, so the form says it showed one.
            shown = (
                f"{field}__shown" in request.form if setting.kind == "bool" else text is not None
            )
            if not shown:
                continue
            typed[setting.key] = text or ""
            values[setting.key] = store.parse(setting, text)
        changed = store.save(s, clinic_config(), values, signed_in().login)
    except store.SettingRefused as exc:
        s.rollback()
        flash(f"Не сохранено: {exc}", "error")
        return (
            render_template(
                "settings/index.html", groups=_groups(s, typed), platforms=REVIEW_PLATFORM_LABELS
            ),
            400,
        )
    s.commit()
    if changed:
        labels = ", ".join(f"«{BY_KEY[key].label}»" for key in changed)
        flash(f"Сохранено: {labels}.")
    else:
        flash("Ничего не изменилось.")
    return redirect(url_for("settings.index"))


@bp.route("/reset", methods=["POST"])
@requires("settings.edit")
def reset() -> Any:
    key = request.form.get("key", "")
    if key not in BY_KEY:
        abort(400, description="Такой настройки нет.")
    s = _session()
    if store.reset(s, key):
        s.commit()
        flash(f"«{BY_KEY[key].label}»: снова действует значение из файла.")
    else:
        flash(f"«{BY_KEY[key].label}» и так берётся из файла.")
    if key.startswith("mis."):
        return redirect(url_for("settings.mis_view"))
    return redirect(url_for("settings.index"))


# -- «Тексты сообщений»: the patient-facing texts (core/settings/templates.py) ---------------


def _patient_values(s: Session, mis_id: str) -> dict[str, dict[str, str]] | None:
    """The preview's values for the patient asked for (by MIS card number), per language;
    None (and a notice) if none is asked for or there is no such patient."""
    mis_id = mis_id.strip()[:64]
    if not mis_id:
        return None
    config = clinic_config()
    values = {lang: templates.patient_samples(s, config, mis_id, lang) for lang in templates.LANGS}
    found = {lang: v for lang, v in values.items() if v is not None}
    if not found:
        flash(f"Пациента с номером карты «{mis_id}» нет — пример на вымышленном пациенте.", "error")
        return None
    return found


def _template_rows(
    s: Session,
    typed: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
) -> list[tuple[templates.Group, list[dict]]]:
    config = clinic_config()
    kept = templates.stored(s)
    rows: list[dict[str, Any]] = []
    for template in templates.TEMPLATES:
        langs = {}
        for lang in templates.LANGS:
            row = kept.get(f"{template.key}:{lang}")
            text = (typed or {}).get(template.key, {}).get(lang)
            if text is None:
                text = row.value if row is not None else templates.builtin(template.key, lang)
            try:
                sample = (values or {}).get(lang)
                shown, error = templates.preview(config, template, lang, text, sample), ""
            except templates.TemplateRefused as exc:
                shown, error = "", str(exc)
            langs[lang] = {"text": text, "changed": row, "preview": shown, "error": error}
        rows.append(
            {
                "template": template,
                "fields": [(f, templates.field_help(template, f)) for f in template.fields],
                "langs": langs,
                "changed": any(v["changed"] is not None for v in langs.values()),
            }
        )
    by_group = groupby(rows, lambda r: str(r["template"].group))
    return [(templates.GROUP_OF[group], list(items)) for group, items in by_group]


def _group_slug(key: str) -> str | None:
    """The screen's group of a text (the one left open after a save)."""
    template = templates.BY_KEY.get(key)
    return templates.GROUP_OF[template.group].slug if template is not None else None


def _template(key: str) -> templates.Template:
    template = templates.BY_KEY.get(key)
    if template is None:
        abort(400, description="Такого текста нет.")
    return template


@bp.route("/templates", methods=["GET", "POST"])
@requires("settings.edit")
def templates_view() -> Any:
    """The texts; a POST keeps one text's Russian and English version, or (the
    «Предпросмотр» button, for a browser without script) only shows them filled in."""
    s = _session()
    patient = (request.values.get("patient") or "").strip()[:64]
    sample = _patient_values(s, patient)
    if sample is None:
        patient = ""

    opened = (request.values.get("group") or "").strip()[:40]

    def page(typed: dict[str, dict[str, str]] | None = None, focus: str = "") -> str:
        return render_template(
            "settings/templates.html",
            groups=_template_rows(s, typed, sample),
            focus=focus,
            opened=_group_slug(focus) or opened,
            patient=patient,
        )

    if request.method == "GET":
        return page()
    template = _template(request.form.get("key", ""))
    values = {
        lang: request.form[f"text_{lang}"]
        for lang in templates.LANGS
        if f"text_{lang}" in request.form
    }
    typed = {template.key: values}
    if request.form.get("action") == "preview":
        return page(typed, template.key)
    try:
        changed = templates.save(s, template.key, values, signed_in().login)
    except templates.TemplateRefused as exc:
        s.rollback()
        flash(f"Не сохранено: {exc}", "error")
        return page(typed, template.key), 400
    s.commit()
    templates.publish(s)
    if changed:
        flash(f"Сохранено: «{template.label}».")
    else:
        flash("Ничего не изменилось.")
    back = url_for(
        "settings.templates_view", patient=patient or None, group=_group_slug(template.key)
    )
    return redirect(back + f"#t-{template.key}")


@bp.route("/templates/reset", methods=["POST"])
@requires("settings.edit")
def templates_reset() -> Any:
    template = _template(request.form.get("key", ""))
    lang = request.form.get("lang", "")
    if lang not in templates.LANGS:
        abort(400, description="Такого языка нет.")
    s = _session()
    word = "русский" if lang == "ru" else "английский"
    if templates.reset(s, template.key, lang, signed_in().login):
        s.commit()
        templates.publish(s)
        flash(f"«{template.label}» ({word}): снова действует исходный текст.")
    else:
        flash(f"«{template.label}» ({word}) и так исходный текст.")
    back = url_for("settings.templates_view", group=_group_slug(template.key))
    return redirect(back + f"#t-{template.key}")


@bp.route("/templates/preview", methods=["POST"])
@requires("settings.edit")
def templates_preview() -> Any:
    """The live preview (app/static/settings.js): the text filled in with the sample
    values, or the reason it would be refused. Nothing is kept."""
    template = _template(request.form.get("key", ""))
    lang = request.form.get("lang", "")
    if lang not in templates.LANGS:
        abort(400, description="Такого языка нет.")
    config = clinic_config()
    patient = (request.form.get("patient") or "").strip()[:64]
    sample = templates.patient_samples(_session(), config, patient, lang) if patient else None
    try:
        shown = templates.preview(config, template, lang, request.form.get("text", ""), sample)
    except templates.TemplateRefused as exc:
        return jsonify({"ok": False, "error": str(exc)})
    return jsonify({"ok": True, "text": shown})


# -- «Подключение к МИС»: «Проверить» before a changed profile or DSN is kept ---------------


def _mis_page(s: Session, typed: dict[str, str] | None = None, report: Any = None) -> str:
    config = clinic_config()
    in_force = store.effective(s, config)
    changed = store.changed_at(s)
    rows = []
    for setting in MIS_SETTINGS:
        value = store.file_value(in_force, setting.key)
        text = (typed or {}).get(setting.key, str(value))
        rows.append(
            {
                "setting": setting,
                "field": setting.key.replace(".", "__"),
                "value": value,
                # A DSN may hold a password: it is never sent back to the browser.
                "text": redact(text, config),
                "file": redact(_shown(setting, store.file_value(config, setting.key)), config),
                "changed": changed.get(setting.key),
            }
        )
    return render_template("settings/mis.html", rows=rows, report=report)


@bp.route("/mis", methods=["GET", "POST"])
@requires("settings.edit")
def mis_view() -> Any:
    """«Проверить» runs the checks of `kabinet mis check` on the typed profile and DSN;
    «Сохранить» runs them too and keeps the values only when they pass."""
    s = _session()
    if request.method == "GET":
        return _mis_page(s)
    config = clinic_config()
    in_force = store.effective(s, config)
    values: dict[str, Any] = {}
    typed: dict[str, str] = {}
    for setting in MIS_SETTINGS:
        text = (request.form.get(setting.key.replace(".", "__")) or "").strip()
        current = str(store.file_value(in_force, setting.key))
        if text == redact(current, config):
            text = current  # the masked DSN shown on the page, sent back unchanged
        typed[setting.key] = text
        try:
            values[setting.key] = store.parse(setting, text)
        except store.SettingRefused as exc:
            flash(f"Не сохранено: {redact(str(exc), config)}", "error")
            return _mis_page(s, typed), 400
    if not values["mis.dsn"]:
        flash("Не сохранено: «Строка подключения (DSN)» пустая.", "error")
        return _mis_page(s, typed), 400
    try:
        candidate = in_force.replace(
            mis={"profile": values["mis.profile"], "dsn": values["mis.dsn"]}
        )
    except ConfigError as exc:
        flash(f"Не сохранено: настройки МИС не подходят ({redact(str(exc), config)}).", "error")
        return _mis_page(s, typed), 400
    report = mis_check.run(candidate, who=signed_in().login)
    if request.form.get("action") != "save":
        return _mis_page(s, typed, report)
    if not report.ok:
        flash(f"Не сохранено: проверка не прошла. {report.headline}", "error")
        return _mis_page(s, typed, report), 400
    changed = store.save(s, config, values, signed_in().login)
    s.commit()
    if changed:
        labels = ", ".join(f"«{BY_KEY[key].label}»" for key in changed)
        flash(f"Проверено и сохранено: {labels}. Кабинет читает МИС так со следующего опроса.")
    else:
        flash("Проверено; ничего не изменилось.")
    return redirect(url_for("settings.mis_view"))
