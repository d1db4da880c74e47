"""Ensure a demo consultant exists and print how to log in."""

import secrets
import string

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand


def generate_password() -> str:
    """12 characters with at least one uppercase letter and one digit (the password policy)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(12))
        if (
            any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
            and any(c.islower() for c in password)
        ):
            return password


class Command(BaseCommand):
    help = "Tworzy konto demonstracyjnego konsultanta (jeśli go nie ma) i wypisuje login i hasło."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--reset", action="store_true", help="nadaj nowe hasło istniejącemu kontu")

    def handle(self, *args, username: str, reset: bool, **options):
        # The password is kept beside the SQLite file (var/, never committed) so that
        # `make run` can show it again on every start.
        secret_file = settings.BASE_DIR / "var" / f"{username}.password"
        user = User.objects.filter(username=username).first()
        password = secret_file.read_text(encoding="utf-8").strip() if secret_file.exists() else ""
        if user is None or reset or not password or not user.check_password(password):
            password = generate_password()
            if user is None:
                user = User.objects.create_user(username, password=password, first_name="Demo")
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(password, encoding="utf-8")
            secret_file.chmod(0o600)
        self.stdout.write(f"Login: {username}")
        self.stdout.write(f"Hasło: {password}")
