"""Staff forms; the checks themselves live in announcements.inputs (shared with the API)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField, TextAreaField, widgets

from announcements.models import KINDS
from announcements.present import KIND_LABELS
from notifier.timeutil import to_local


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def _local_input(value) -> str:
    return f"{to_local(value):%Y-%m-%dT%H:%M}" if value else ""


class AnnouncementForm(FlaskForm):
    department = SelectField(_l("Department"), validate_choice=False)
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in KINDS], validate_choice=False)
    urgent = BooleanField(_l("Urgent (emergency)"))
    districts = CheckboxesField(_l("Districts"), validate_choice=False)
    streets = TextAreaField(_l("Streets and buildings"), render_kw={"rows": 2})
    starts_at = StringField(_l("Start (local time)"), render_kw={"type": "datetime-local"})
    ends_at = StringField(_l("Planned end (local time)"), render_kw={"type": "datetime-local"})
    publish_at = StringField(_l("Publish at (optional, local time)"), render_kw={"type": "datetime-local"})
    title_kk = StringField(_l("Title in Kazakh"), render_kw={"lang": "kk", "maxlength": 200})
    title_ru = StringField(_l("Title in Russian"), render_kw={"lang": "ru", "maxlength": 200})
    body_kk = TextAreaField(_l("Text in Kazakh"), render_kw={"lang": "kk", "rows": 5})
    body_ru = TextAreaField(_l("Text in Russian"), render_kw={"lang": "ru", "rows": 5})

    def fill_choices(self, departments, districts, lang: str) -> None:
        """Offer only the departments the user may write for, and every district."""
        self.department.choices = [SelectChoice(d.slug, d.name(lang)) for d in departments]
        self.districts.choices = [SelectChoice(d.slug, d.name(lang)) for d in districts]

    def fill_from(self, ann) -> None:
        """Load an existing announcement into the form."""
        self.department.data = ann.department.slug
        self.kind.data = ann.kind
        self.urgent.data = ann.urgent
        self.districts.data = [d.slug for d in ann.districts]
        self.streets.data = ann.streets
        self.starts_at.data = _local_input(ann.starts_at)
        self.ends_at.data = _local_input(ann.ends_at)
        self.publish_at.data = _local_input(ann.publish_at)
        self.title_kk.data, self.title_ru.data = ann.title_kk, ann.title_ru
        self.body_kk.data, self.body_ru.data = ann.body_kk, ann.body_ru

    def as_input(self) -> dict:
        """Return the submitted values in the API's shape."""
        return {
            "department": self.department.data,
            "kind": self.kind.data,
            "urgent": bool(self.urgent.data),
            "districts": self.districts.data or [],
            "streets": self.streets.data or "",
            "starts_at": self.starts_at.data,
            "ends_at": self.ends_at.data,
            "publish_at": self.publish_at.data or None,
            "title": {"kk": self.title_kk.data or "", "ru": self.title_ru.data or ""},
            "body": {"kk": self.body_kk.data or "", "ru": self.body_ru.data or ""},
        }

    def show_errors(self, fields: dict[str, str]) -> None:
        """Attach service field errors (`title.kk`, `ends_at`, …) to the form fields."""
        for name, message in fields.items():
            field = getattr(self, name.replace(".", "_"), None) or getattr(self, f"{name}_ru", None)
            if field is not None:
                field.errors = [*field.errors, message]


class ActionForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), render_kw={"rows": 2})
    ends_at = StringField(_l("New planned end (local time)"), render_kw={"type": "datetime-local"})
