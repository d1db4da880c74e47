"""Ensure a demo consultant exists and print how to log in."""

import hashlib
import re
import secrets
import string
from pathlib import Path

from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

# Django's username rule allows "." anywhere; a leading dot would make a hidden file or "..".
_SAFE_FILE_NAME = re.compile(r"[\w@+-][\w.@+-]*")


def generate_password(user: User | None = None) -> str:
    """12 characters with at least one uppercase letter and one digit, accepted by every
    validator of the password policy (settings.AUTH_PASSWORD_VALIDATORS)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(12))
        if not (
            any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
            and any(c.islower() for c in password)
        ):
            continue
        try:
            password_validation.validate_password(password, user)
        except ValidationError:
            continue
        return password


def check_username(username: str) -> None:
    """Refuse a name Django would not accept or that is not a safe file name (it names the file)."""
    try:
        User.username_validator(username)
        if not 1 <= len(username) <= 150 or not _SAFE_FILE_NAME.fullmatch(username):
            raise ValidationError("file name")
    except ValidationError:
        raise CommandError(
            f"„{username}” nie może być nazwą konta demo: 1–150 znaków, litery, cyfry i @ . + - _ "
            "(bez kropki na początku)."
        ) from None


def password_file(username: str) -> Path:
    """Where the demo password of ``username`` is kept for the database in use.

    The SQLite and the PostgreSQL setup share ``var/``; a file per database keeps one from
    overwriting the other's password.
    """
    db = connections[DEFAULT_DB_ALIAS].settings_dict
    key = "|".join(str(db.get(part) or "") for part in ("ENGINE", "NAME", "HOST", "PORT"))
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    folder = Path(settings.BASE_DIR) / "var"
    path = folder / f"{username}-{digest}.password"
    if path.resolve().parent != folder.resolve():  # check_username makes this impossible; belt and braces
        raise CommandError(f"„{username}” nie może być nazwą konta demo.")
    return path


def _legacy_password_file(username: str) -> Path:
    # Before passwords were kept per database: var/<username>.password, shared by every database.
    return Path(settings.BASE_DIR) / "var" / f"{username}.password"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def _store(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password, encoding="utf-8")
    path.chmod(0o600)


class Command(BaseCommand):
    help = (
        "Tworzy konto demonstracyjnego konsultanta (jeśli go nie ma) i wypisuje login i hasło; "
        "hasła istniejącego konta nie zmienia bez --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")
        parser.add_argument("--reset", action="store_true", help="nadaj nowe hasło istniejącemu kontu")

    def handle(self, *args, username: str, reset: bool, **options):
        # `make run` calls this on every start: it must print a login that works on a fresh
        # machine, and must never reset a password the consultant has chosen since.
        check_username(username)
        secret_file = password_file(username)
        user = User.objects.filter(username=username).first()
        stored = _read(secret_file)
        if user is not None and not stored:
            legacy = _read(_legacy_password_file(username))
            if legacy and user.check_password(legacy):
                _store(secret_file, legacy)
                stored = legacy

        if user is None or reset:
            # Checked against the user (or the one about to exist): not similar to its name.
            password = generate_password(user or User(username=username, first_name="Demo"))
            if user is None:
                User.objects.create_user(username, password=password, first_name="Demo")
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            _store(secret_file, password)
        elif stored and user.check_password(stored):
            password = stored
        else:
            self.stdout.write(f"Login: {username}")
            reason = "zostało zmienione od czasu jego nadania" if stored else "nie zostało tu zapisane"
            self.stdout.write(
                f"Hasło konta „{username}” w tej bazie {reason}, więc go nie pokazuję i nie zmieniam. "
                "Zaloguj się swoim hasłem albo nadaj nowe: "
                f"python manage.py create_demo_user --username {username} --reset"
            )
            return
        self.stdout.write(f"Login: {username}")
        self.stdout.write(f"Hasło: {password}")
