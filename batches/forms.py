"""Forms of the batch pages: the workbook upload."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _


class UploadForm(forms.Form):
    file = forms.FileField(
        label=_("Plik Excel (.xlsx)"),
        error_messages={
            "required": _("Wybierz plik .xlsx z projektami."),
            "empty": _("Wybrany plik jest pusty. Wybierz plik .xlsx z projektami."),
            "invalid": _("Nie udało się odebrać pliku. Wybierz plik .xlsx i prześlij go ponownie."),
        },
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )
    name = forms.CharField(
        label=_("Nazwa partii"),
        max_length=255,
        required=False,
        help_text=_("Opcjonalnie, np. nazwa klienta i rok. Domyślnie nazwa pliku."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        # The size the upload handler recorded: checked before the content is read.
        limit = settings.RNDCARDS_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("Plik „%(name)s” ma %(size)s, a największy dopuszczalny rozmiar to %(limit)s."),
                code="too_large",
                params={"name": upload.name, "size": filesizeformat(upload.size), "limit": filesizeformat(limit)},
            )
        return upload

    @property
    def too_large(self) -> bool:
        return self.has_error("file", "too_large")
