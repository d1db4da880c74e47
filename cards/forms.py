"""Forms of the card pages: choosing a provider, editing a section."""

from django import forms
from django.utils.translation import gettext_lazy as _

from cards.providers.registry import PROVIDER_LABELS, configured_providers, default_provider_name
from cards.sanitize import html_to_text, sanitize_html

SECTION_MAX_CHARS = 50_000


class GenerateForm(forms.Form):
    """Which provider generates the cards; only configured ones are offered."""

    provider = forms.ChoiceField(
        label=_("Model"),
        error_messages={"invalid_choice": _("Wybierz dostawcę z listy dostępnych.")},
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

    def clean_text(self) -> str:
        text = self.cleaned_data["text"]
        if not html_to_text(sanitize_html(text)).strip():
            raise forms.ValidationError(_("Sekcja nie może być pusta. Wpisz treść albo anuluj edycję."), code="empty")
        return text
