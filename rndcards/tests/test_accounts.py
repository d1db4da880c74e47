"""Accounts: the password policy, password change and reset, the login lockout."""

import datetime
import io
import re

import pytest
import time_machine
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

PASSWORD = "Haslo-Testowe-1"  # the fixtures' password
ENGLISH = re.compile(r"\b(password|must|contain|characters?|this|too|please|enter)\b", re.I)


def _errors(password: str, user: User | None = None) -> list[str]:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        return list(exc.messages)
    return []


# --------------------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Ab1cdef", "za krótkie"),  # 7 characters
        ("zielonydach7", "wielką literę"),
        ("ZielonyDach", "cyfrę"),
        ("Password1", "zbyt powszechne"),
        ("12345678", "wyłącznie z cyfr"),
        ("Konsultant1", "zbyt podobne"),  # the user's name
        ("Zielony-" + "dach" * 40 + "7", "za długie"),  # 169 characters
        ("żółwikzielony9", "wielką literę"),  # Polish letters, none uppercase
        ("Zielony Dach²", "cyfrę"),  # a superscript is not a digit
    ],
)
def test_each_rule_of_the_password_policy_refuses_in_polish(db, password, expected):
    user = User(username="konsultant", first_name="Anna", email="anna@kancelaria.example")

    messages = _errors(password, user)

    assert any(expected in message for message in messages), messages
    assert not [m for m in messages if ENGLISH.search(m)], messages


@pytest.mark.parametrize(
    "password",
    ["Zielony-Dach-7", "ŻÓŁTY-kamień-8", "Zażółć-gęślą-1", "Skrzydło٣księżyca", "Ab1" + "x" * 125],
)
def test_a_password_meeting_the_policy_is_accepted_in_any_alphabet(db, password):
    assert _errors(password, User(username="konsultant")) == []


def test_every_rule_explains_itself_in_polish_on_the_form():
    help_texts = password_validation.password_validators_help_texts()

    assert len(help_texts) == 7
    assert any("wielką literę" in text for text in help_texts)
    assert any("cyfrę" in text for text in help_texts)
    assert any("8 znaków" in text for text in help_texts)
    assert not [t for t in help_texts if ENGLISH.search(t)], help_texts


def test_the_demo_users_generated_passwords_meet_the_policy(db):
    from batches.management.commands.create_demo_user import generate_password

    user = User(username="demo", first_name="Demo")
    for _ in range(200):
        assert _errors(generate_password(user), user) == []


def test_the_demo_user_can_log_in_through_the_form_with_the_printed_password(client, db, tmp_path, settings):
    settings.BASE_DIR = tmp_path  # the password file goes to tmp_path/var
    out = io.StringIO()
    call_command("create_demo_user", "--username", "demo", stdout=out)
    password = re.search(r"Hasło: (\S+)", out.getvalue()).group(1)

    response = client.post(reverse("login"), {"username": "demo", "password": password})

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")


# --------------------------------------------------------------------------- password change


def test_the_user_menu_and_the_login_page_link_to_password_change_and_reset(client, owner):
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
    client.force_login(owner)
    assert reverse("password_change") in client.get(reverse("dashboard")).content.decode()


def test_password_change_keeps_the_session_and_the_old_password_stops_working(client, owner):
    client.force_login(owner)
    page = client.get(reverse("password_change")).content.decode()
    assert "wielką literę" in page and "cyfrę" in page  # the policy, before anything is typed

    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "Nowe-Haslo-2025", "new_password2": "Nowe-Haslo-2025"},
    )

    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert "Hasło zostało zmienione" in client.get(response["Location"]).content.decode()
    assert client.get(reverse("dashboard")).status_code == 200  # still logged in
    owner.refresh_from_db()
    assert owner.check_password("Nowe-Haslo-2025") and not owner.check_password(PASSWORD)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"old_password": "zle-haslo", "new_password1": "Nowe-Haslo-2025", "new_password2": "Nowe-Haslo-2025"},
            "stare hasło jest niepoprawne",
        ),
        (
            {"old_password": PASSWORD, "new_password1": "Nowe-Haslo-2025", "new_password2": "Nowe-Haslo-2026"},
            "nie są zgodne",
        ),
        ({"old_password": PASSWORD, "new_password1": "nowehaslo1", "new_password2": "nowehaslo1"}, "wielką literę"),
        (
            {"old_password": PASSWORD, "new_password1": "Nowe\x00Haslo1", "new_password2": "Nowe\x00Haslo1"},
            "Znaki null są niedozwolone",
        ),
        (
            {"old_password": "A1" * 500_000, "new_password1": "Nowe-Haslo-2025", "new_password2": "Nowe-Haslo-2025"},
            "stare hasło jest niepoprawne",
        ),
        ({"old_password": PASSWORD, "new_password1": "Ab1" * 100_000, "new_password2": "Ab1" * 100_000}, "za długie"),
        ({}, "To pole jest wymagane"),
    ],
    ids=["wrong-old", "mismatch", "no-uppercase", "nul", "1MB-old", "300k-new", "empty"],
)
def test_a_refused_password_change_says_why_in_polish_and_changes_nothing(client, owner, data, expected):
    client.force_login(owner)

    response = client.post(reverse("password_change"), data)

    assert response.status_code == 200
    html = response.content.decode()
    assert expected in html
    assert "Popraw zaznaczone pola" in html or "niepoprawne" in html
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


def test_password_change_needs_a_login(client):
    response = client.get(reverse("password_change"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --------------------------------------------------------------------------- password reset


def _reset_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/password/reset/[^\s]+/)", message.body).group(1)


def test_password_reset_by_e_mail_works_once(client, owner):
    owner.email = "anna@kancelaria.example"
    owner.save()

    response = client.post(reverse("password_reset"), {"email": "ANNA@kancelaria.example"})

    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["anna@kancelaria.example"]
    assert message.subject == "Ustawienie nowego hasła w RnD Cards"
    assert "konsultant" in message.body and "Link działa jeden raz" in message.body
    link = _reset_link(message)

    form_page = client.get(link, follow=True)
    assert "Ustaw nowe hasło" in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]
    response = client.post(set_password_url, {"new_password1": "Nowe-Haslo-2025", "new_password2": "Nowe-Haslo-2025"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_complete")
    owner.refresh_from_db()
    assert owner.check_password("Nowe-Haslo-2025")

    again = client.get(link, follow=True).content.decode()
    assert "Ten link jest nieważny" in again
    again = client.post(set_password_url, {"new_password1": "Inne-Haslo-2026", "new_password2": "Inne-Haslo-2026"})
    assert "Ten link jest nieważny" in again.content.decode()
    owner.refresh_from_db()
    assert owner.check_password("Nowe-Haslo-2025")


def test_password_reset_sets_no_weak_password(client, owner):
    owner.email = "anna@kancelaria.example"
    owner.save()
    client.post(reverse("password_reset"), {"email": owner.email})
    set_password_url = client.get(_reset_link(mail.outbox[0]), follow=True).redirect_chain[-1][0]

    response = client.post(set_password_url, {"new_password1": "krotkie", "new_password2": "krotkie"})

    html = response.content.decode()
    assert "za krótkie" in html and "wielką literę" in html and "cyfrę" in html
    owner.refresh_from_db()
    assert owner.check_password(PASSWORD)


@pytest.mark.parametrize("email", ["nikt@kancelaria.example", "operator@kancelaria.example"])
def test_an_unknown_or_login_less_address_gets_the_same_answer_and_no_e_mail(client, owner, email):
    owner.email = "anna@kancelaria.example"
    owner.save()
    operator = User.objects.create_user("operator", email="operator@kancelaria.example")
    operator.set_unusable_password()
    operator.save()
    known = client.post(reverse("password_reset"), {"email": owner.email}, follow=True)
    mail.outbox.clear()

    response = client.post(reverse("password_reset"), {"email": email}, follow=True)

    assert response.redirect_chain == known.redirect_chain
    masked_token = re.compile(r'"X-CSRFToken": "[^"]+"')  # masked differently on every page
    assert masked_token.sub("", response.content.decode()) == masked_token.sub("", known.content.decode())
    assert mail.outbox == []


@pytest.mark.parametrize(
    "email",
    ["anna@kancelaria.example\r\nBcc: wszyscy@example.com", "x" * 5000 + "@example.com", "nie-adres", ""],
    ids=["header-injection", "5000-chars", "no-at", "empty"],
)
def test_a_malformed_reset_address_is_refused_in_polish_without_e_mail(client, owner, email):
    owner.email = "anna@kancelaria.example"
    owner.save()

    response = client.post(reverse("password_reset"), {"email": email})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Popraw zaznaczone pola" in html
    assert mail.outbox == []


@pytest.mark.parametrize(
    "link", ["/password/reset/MQ/zly-token/", "/password/reset/%00/x/", "/password/reset/" + "A" * 3000 + "/t/"]
)
def test_a_forged_reset_link_says_it_is_invalid(client, owner, link):
    response = client.get(link, follow=True)

    assert response.status_code == 200
    assert "Ten link jest nieważny" in response.content.decode()


# --------------------------------------------------------------------------- lockout


def _login(client, username="konsultant", password="zle-haslo", ip="203.0.113.7", **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def test_five_failed_logins_lock_the_account_from_that_address_for_15_minutes(client, owner):
    for _ in range(4):
        response = _login(client)
        assert response.status_code == 200
        assert "Wprowadź poprawne" in response.content.decode()

    locked = _login(client)  # the fifth
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Logowanie chwilowo zablokowane" in html and "15 min" in html
    assert locked["Retry-After"] == "900"
    assert "Content-Security-Policy" in locked

    # The right password is refused too while locked, and nobody is logged in.
    right = _login(client, password=PASSWORD)
    assert right.status_code == 429
    assert client.get(reverse("dashboard")).status_code == 302

    # Another address may still log in with the right password (a pair is locked, not the user).
    other = _login(client, password=PASSWORD, ip="198.51.100.9")
    assert other.status_code == 302


def test_the_lock_lifts_after_the_cool_off_and_a_failure_while_locked_restarts_it(client, owner):
    start = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
    with time_machine.travel(start, tick=False) as traveller:
        for _ in range(5):
            _login(client)
        traveller.shift(datetime.timedelta(minutes=10))
        assert _login(client).status_code == 429  # a failure while locked: 15 min from now
        traveller.shift(datetime.timedelta(minutes=14))
        assert _login(client, password=PASSWORD).status_code == 429
        traveller.shift(datetime.timedelta(minutes=16))

        response = _login(client, password=PASSWORD)

        assert response.status_code == 302 and response["Location"] == reverse("dashboard")


def test_an_admin_unlocks_the_account_in_django_admin(client, owner):
    from axes.models import AccessAttempt

    for _ in range(5):
        _login(client)
    assert AccessAttempt.objects.filter(username="konsultant").exists()
    admin = User.objects.create_superuser("szef", password=PASSWORD)
    staff = client.__class__()
    staff.force_login(admin)

    listing = staff.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "konsultant" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="konsultant")
    staff.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})

    assert not AccessAttempt.objects.exists()
    assert _login(client, password=PASSWORD).status_code == 302


def test_a_locked_out_json_client_gets_the_api_error_shape(client, owner):
    for _ in range(5):
        response = _login(client, HTTP_ACCEPT="application/json")

    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "login_locked"
    assert "Zbyt wiele nieudanych prób logowania" in body["error"]["message"]
    assert "Access-Control-Allow-Origin" not in response  # axes' own JSON answer would say "*"


def test_a_successful_login_clears_the_failures(client, owner):
    for _ in range(4):
        _login(client)
    assert _login(client, password=PASSWORD).status_code == 302
    client.post(reverse("logout"))

    for _ in range(4):
        assert _login(client).status_code == 200  # counting starts again


@pytest.mark.parametrize(
    "username",
    ["konsultant\x00", "k" * 10_000, "' OR 1=1 --", "konsultant\r\nX-Injected: 1", "👤" * 50],
    ids=["nul", "10k", "sql", "crlf", "emoji"],
)
def test_hostile_user_names_are_failed_logins_not_errors(client, owner, username):
    for _ in range(5):
        response = _login(client, username=username)
        assert response.status_code in (200, 429)
    # Whatever was typed, the real account is not locked by it.
    assert _login(client, password=PASSWORD).status_code == 302


def test_a_10000_character_name_is_counted_under_its_first_150_characters(client, owner):
    from axes.models import AccessAttempt

    for _ in range(2):
        _login(client, username="k" * 10_000)

    assert AccessAttempt.objects.get().username == "k" * 150
    assert AccessAttempt.objects.get().failures_since_start == 2


def test_a_nul_in_a_name_from_a_path_without_form_validation_is_a_failed_login(rf, owner):
    # The API's token view calls authenticate() with whatever JSON it got; PostgreSQL refuses NUL.
    from axes.models import AccessAttempt
    from django.contrib.auth import authenticate

    request = rf.post("/api/token/")
    assert authenticate(request, username="konsultant\x00", password="zle") is None

    assert AccessAttempt.objects.get().username == "konsultant\ufffd"


@pytest.mark.parametrize("address", ["", "unknown", "999.1.1.1", "203.0.113.7, 10.0.0.1"])
def test_a_malformed_client_address_does_not_break_the_login(client, owner, address):
    assert _login(client, ip=address).status_code == 200
    assert _login(client, password=PASSWORD, ip=address).status_code == 302


def test_tests_log_in_with_force_login_or_with_a_request(client, owner):
    from axes.exceptions import AxesBackendRequestParameterRequired
    from django.http import HttpRequest

    with pytest.raises(AxesBackendRequestParameterRequired):
        client.login(username=owner.username, password=PASSWORD)  # no request: axes cannot count

    assert client.login(request=HttpRequest(), username=owner.username, password=PASSWORD)
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_password_reset_through_the_e_mailed_link_lifts_the_lockout(client, owner):
    owner.email = "anna@kancelaria.example"
    owner.save()
    for _ in range(5):
        _login(client)
    assert _login(client, password=PASSWORD).status_code == 429

    client.post(reverse("password_reset"), {"email": owner.email})
    set_password_url = client.get(_reset_link(mail.outbox[0]), follow=True).redirect_chain[-1][0]
    client.post(set_password_url, {"new_password1": "Nowe-Haslo-2025", "new_password2": "Nowe-Haslo-2025"})

    assert _login(client, password="Nowe-Haslo-2025").status_code == 302
