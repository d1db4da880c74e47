"""Password rules of our own, next to Django's validators (settings.AUTH_PASSWORD_VALIDATORS).

The original design's policy is at least 8 characters, one uppercase letter and one digit;
Django brings the length, common-password, all-digits and similar-to-the-user rules. Any
alphabet counts: „Ż” is an uppercase letter, „٣” a digit.
"""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class UppercaseValidator:
    """At least one uppercase letter."""

    def validate(self, password: str, user=None) -> None:
        if not any(char.isupper() for char in password):
            raise ValidationError(
                _("Hasło musi zawierać co najmniej jedną wielką literę (np. A, Ł, Ż)."),
                code="password_no_uppercase",
            )

    def get_help_text(self) -> str:
        return _("Hasło musi zawierać co najmniej jedną wielką literę.")


class DigitValidator:
    """At least one digit (a decimal digit of any script, not ² or ½)."""

    def validate(self, password: str, user=None) -> None:
        if not any(char.isdecimal() for char in password):
            raise ValidationError(
                _("Hasło musi zawierać co najmniej jedną cyfrę (0–9)."),
                code="password_no_digit",
            )

    def get_help_text(self) -> str:
        return _("Hasło musi zawierać co najmniej jedną cyfrę.")


class MaximumLengthValidator:
    """A bound on what the other validators (similarity) and the hasher are given."""

    def __init__(self, max_length: int = 128):
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                _("Hasło jest za długie: może mieć najwyżej %(max_length)d znaków (ma %(length)d).")
                % {"max_length": self.max_length, "length": len(password)},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return _("Hasło może mieć najwyżej %(max_length)d znaków.") % {"max_length": self.max_length}
