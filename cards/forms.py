"""Forms of the card pages: choosing a provider, editing a section."""

from django import forms
from django.utils.translation import gettext_lazy as _

from cards.hints import MAX_HINTS_CHARS, injection_phrase, refusal_message
from cards.providers.registry import PROVIDER_LABELS, configured_providers, default_provider_name
from cards.sanitize import clean_text, html_to_text, sanitize_html

SECTION_MAX_CHARS = 50_000


class GenerateForm(forms.Form):
    """Which provider generates the cards; only configured ones are offered."""

    provider = forms.ChoiceField(
        label=_("Model"),
        error_messages={"invalid_choice": _("Wybierz dostawcę z listy dostępnych.")},
    )

    include_done = forms.BooleanField(
        label=_("Także gotowe karty"),
        required=False,
        help_text=_("Zastępuje teksty AI i szkice gotowych kart (poprzednie wersje zostają w historii sekcji)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        default = default_provider_name()
        choices = []
        for name in configured_providers():
            label = str(PROVIDER_LABELS.get(name, name))
            if name == default:
                label = _("%(label)s — domyślny") % {"label": label}
            choices.append((name, label))
        self.fields["provider"].choices = choices
        self.fields["provider"].initial = default


class SectionForm(forms.Form):
    """The consultant's text of one section, as the editor's HTML."""

    text = forms.CharField(
        label=_("Treść sekcji"),
        max_length=SECTION_MAX_CHARS,
        required=False,
        error_messages={
            "max_length": _(
                "Tekst sekcji może mieć najwyżej %(limit_value)d znaków (razem ze znacznikami formatowania), "
                "a ma %(show_value)d. Skróć go i zapisz ponownie."
            ),
        },
    )

    # The section's version when the editor was opened: a save over a newer version (another
    # tab, a regeneration) is stopped unless the consultant chooses to overwrite it.
    base_version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    overwrite = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if not html_to_text(sanitize_html(text)).strip():
            raise forms.ValidationError(_("Sekcja nie może być pusta. Wpisz treść albo anuluj edycję."), code="empty")
        return text


class CleanTextField(forms.CharField):
    """Text with control and invisible characters removed before the length is checked,
    so the limit counts what the consultant sees (and what reaches the model)."""

    def to_python(self, value):
        return clean_text(super().to_python(value)).strip()


class SectionRegenerateForm(forms.Form):
    """The consultant's hints and model for regenerating one section."""

    hints = CleanTextField(
        label=_("Uwagi dla modelu (opcjonalnie)"),
        max_length=MAX_HINTS_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": MAX_HINTS_CHARS}),
        help_text=_("Co poprawić w tej sekcji, np. „dodaj mierzalny wskaźnik celu z liczbą i jednostką”."),
        error_messages={
            "max_length": _("Uwagi mogą mieć najwyżej %(limit_value)d znaków, a mają %(show_value)d. Skróć je."),
        },
    )
    model = forms.ChoiceField(
        label=_("Model"),
        error_messages={
            "invalid_choice": _("Wybierz model z listy dostępnych."),
            "required": _("Wybierz model z listy dostępnych."),
        },
    )

    def __init__(self, *args, **kwargs):
        from cards.services import section_default_model, section_model_choices

        super().__init__(*args, **kwargs)
        self.fields["model"].choices = section_model_choices()
        self.fields["model"].initial = section_default_model()

    def clean_hints(self) -> str:
        hints = clean_text(self.cleaned_data["hints"]).strip()
        if label := injection_phrase(hints):
            raise forms.ValidationError(refusal_message(label), code="injection")
        return hints


class ReviewForm(forms.Form):
    """A step of the card's review: submit, approve or reopen."""

    action = forms.ChoiceField(
        choices=[("submit", "submit"), ("approve", "approve"), ("reopen", "reopen")],
        error_messages={"invalid_choice": _("Nieznana czynność przeglądu. Odśwież stronę i spróbuj ponownie.")},
    )
