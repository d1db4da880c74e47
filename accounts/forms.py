"""The share panel's form: which colleague, and whether to share or take the share back."""

from django import forms


class ShareForm(forms.Form):
    # Ids, not names: the panel lists the firm's colleagues; anything else is refused by the service.
    user = forms.IntegerField(min_value=1, max_value=2**31 - 1)
    action = forms.ChoiceField(choices=[("share", "share"), ("unshare", "unshare")])
