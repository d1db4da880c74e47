"""Forms of the batch pages: the workbook upload."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from batches.uploadhandlers import UploadTooLarge


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

    def __init__(self, *args, too_large: UploadTooLarge | None = None, **kwargs):
        # too_large: the upload was stopped (Content-Length or SizeLimitUploadHandler) before
        # the file was stored, so request.FILES has no file to validate.
        super().__init__(*args, **kwargs)
        self.too_large_upload = too_large

    def full_clean(self):
        super().full_clean()
        if self.too_large_upload is not None and self.is_bound:
            error = forms.ValidationError(self.too_large_upload.message, code="too_large")
            self._errors["file"] = self.error_class(error.error_list, renderer=self.renderer)
            self.cleaned_data.pop("file", None)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        # The size the upload handler recorded: checked before the content is read.
        limit = settings.RNDCARDS_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                UploadTooLarge(limit=limit, size=upload.size, filename=upload.name).message, code="too_large"
            )
        return upload

    @property
    def too_large(self) -> bool:
        return self.has_error("file", "too_large")
