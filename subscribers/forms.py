"""Public and staff forms; the checks themselves live in subscribers.service (shared with the API)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectChoice, SelectMultipleField, StringField, widgets

PHONE_ATTRS = {"autocomplete": "tel", "inputmode": "tel", "maxlength": 40}
CODE_ATTRS = {"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": 10}


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ShowsServiceErrors:
    """Attach a ServiceError's field messages to the fields of the same name."""

    def show_errors(self, fields: dict[str, str]) -> None:
        """Put each message under its field; return nothing."""
        for name, message in fields.items():
            field = getattr(self, name, None)
            if field is not None:
                field.errors = [*field.errors, message]


class SubscribeForm(ShowsServiceErrors, FlaskForm):
    phone = StringField(_l("Mobile phone number"), render_kw=PHONE_ATTRS)
    districts = CheckboxesField(_l("Districts"), validate_choice=False)
    departments = CheckboxesField(_l("Services"), validate_choice=False)
    language = RadioField(
        _l("Language of the SMS"),
        choices=[SelectChoice("kk", "Қазақша"), SelectChoice("ru", "Русский")],
        validate_choice=False,
    )

    def fill_choices(self, districts, departments, lang: str) -> None:
        """Offer every district and service, named in the interface language."""
        self.districts.choices = [SelectChoice(d.slug, d.name(lang)) for d in districts]
        self.departments.choices = [SelectChoice(d.slug, d.name(lang)) for d in departments]


class ConfirmForm(ShowsServiceErrors, FlaskForm):
    phone = StringField(_l("Mobile phone number"), render_kw=PHONE_ATTRS)
    code = StringField(_l("Code from the SMS"), render_kw=CODE_ATTRS)


class UnsubscribeForm(ShowsServiceErrors, FlaskForm):
    phone = StringField(_l("Mobile phone number"), render_kw=PHONE_ATTRS)


class UnsubscribeConfirmForm(ShowsServiceErrors, FlaskForm):
    phone = HiddenField()
    code = StringField(_l("Code from the SMS"), render_kw=CODE_ATTRS)


class LookupForm(ShowsServiceErrors, FlaskForm):
    class Meta:
        csrf = False  # a GET search form

    phone = StringField(_l("Phone number"), render_kw={"inputmode": "tel", "maxlength": 40})
