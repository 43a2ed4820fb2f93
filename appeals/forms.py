"""Staff forms for appeals."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from appeals.models import STATUSES
from subscribers.phones import MAX_INPUT, PhoneError, caller_phone

CONTACT_CENTRE = "contact-centre"
REASON_ATTRS = {"rows": 2, "maxlength": 1000}
DAYS_MESSAGE = _l("From 1 to 30 working days.")


class ShowsServiceErrors:
    """Put a ServiceError's field messages under the fields of the same name."""

    def show_errors(self, fields: dict[str, str]) -> None:
        """Attach each message to its field, if the form has it."""
        for name, message in fields.items():
            field = getattr(self, name, None)
            if field is not None:
                field.errors = [*field.errors, message]


class QueueForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter form

    department = SelectField(_l("Department"), default="")
    status = SelectField(_l("Status"), default="")
    district = SelectField(_l("District"), default="")
    overdue = BooleanField(_l("Overdue only"), render_kw={"value": "yes"})
    number = StringField(_l("Appeal number"), render_kw={"maxlength": 20, "autocomplete": "off"})
    phone = StringField(_l("Phone"), render_kw={"maxlength": MAX_INPUT, "inputmode": "tel", "autocomplete": "off"})

    def fill_choices(self, departments, districts, status_labels: dict, lang: str, with_queue: bool) -> None:
        """Offer the departments the user may filter by, every district and status."""
        everything = SelectChoice("", _l("All"))
        queue = [SelectChoice(CONTACT_CENTRE, _l("Contact centre"))] if with_queue else []
        self.department.choices = [everything, *queue, *(SelectChoice(d.slug, d.name(lang)) for d in departments)]
        self.district.choices = [everything, *(SelectChoice(d.slug, d.name(lang)) for d in districts)]
        self.status.choices = [everything, *(SelectChoice(s, status_labels[s]) for s in STATUSES)]


class RegisterForm(ShowsServiceErrors, FlaskForm):
    phone = StringField(
        _l("Caller's phone number"), render_kw={"maxlength": MAX_INPUT, "inputmode": "tel", "autocomplete": "off"}
    )
    channel = RadioField(
        _l("How the appeal arrived"),
        choices=[SelectChoice("phone", _l("Phone call")), SelectChoice("in_person", _l("In person"))],
        default="phone",
    )
    text = TextAreaField(
        _l("What the resident says"),
        validators=[DataRequired(_l("Write down the appeal.")), Length(max=2000)],
        render_kw={"rows": 5, "maxlength": 2000},
    )
    department = SelectField(_l("Department"), validate_choice=False, default="")
    district = SelectField(_l("District"), default="")

    def fill_choices(self, departments, districts, lang: str, with_queue: bool) -> None:
        """Offer the departments the user may register for, and every district."""
        first = [SelectChoice("", _l("By the words of the text, else the contact centre"))] if with_queue else []
        self.department.choices = [*first, *(SelectChoice(d.slug, d.name(lang)) for d in departments)]
        unknown = SelectChoice("", _l("Not known"))
        self.district.choices = [unknown, *(SelectChoice(d.slug, d.name(lang)) for d in districts)]

    def validate_phone(self, field) -> None:
        """Accept any valid Kazakhstan number; remember its E.164 form and whether SMS reach it."""
        try:
            self.e164, self.mobile = caller_phone(field.data or "")
        except PhoneError as err:
            if err.reason == "not_kz":
                raise ValidationError(_l("Enter a Kazakhstan number.")) from None
            raise ValidationError(_l("Enter a valid phone number, e.g. 8 701 123 45 67 or 8 7252 53 12 34.")) from None


class ActionForm(ShowsServiceErrors, FlaskForm):
    """Take or resolve: nothing to fill in but the CSRF token."""


class ReplyForm(ShowsServiceErrors, FlaskForm):
    text = TextAreaField(
        _l("Answer"),
        validators=[DataRequired(_l("Write the answer.")), Length(max=1000)],
        render_kw={"rows": 5, "maxlength": 1000},
    )


class ForwardForm(ShowsServiceErrors, FlaskForm):
    department = SelectField(_l("To department"), validate_choice=False)
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Say why."))], render_kw=REASON_ATTRS)

    def fill_choices(self, departments, current_id: int | None, lang: str) -> None:
        """Offer every department but the appeal's own."""
        self.department.choices = [SelectChoice(d.slug, d.name(lang)) for d in departments if d.id != current_id]


class RejectForm(ShowsServiceErrors, FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Say why."))], render_kw=REASON_ATTRS)


class ExtendForm(ShowsServiceErrors, FlaskForm):
    days = IntegerField(
        _l("Working days to add"),
        validators=[InputRequired(DAYS_MESSAGE), NumberRange(1, 30, DAYS_MESSAGE)],
        render_kw={"min": 1, "max": 30, "inputmode": "numeric"},
    )
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("Say why."))], render_kw=REASON_ATTRS)
