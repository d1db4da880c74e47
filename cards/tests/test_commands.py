"""Operators' commands: the whole main job in one command, and its parts."""

import subprocess
import sys
from pathlib import Path

import docx
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from batches.models import Batch, Project
from cards.models import Section
from conftest import CASES

ROOT = Path(__file__).resolve().parents[2]


def _headings(path: Path, level: int) -> list[str]:
    document = docx.Document(str(path))
    return [p.text for p in document.paragraphs if p.style.name == f"Heading {level}"]


def test_make_cards_on_the_demo_workbook_writes_five_cards(worker, tmp_path, capsys):
    out = tmp_path / "karty.docx"

    call_command("make_cards", str(CASES / "projekty-demo.xlsx"), "--output", str(out), "--provider", "offline")

    assert len(_headings(out, 1)) == 5
    assert len(_headings(out, 2)) == 5 * 8
    assert Project.objects.filter(status=Project.Status.GENERATED).count() == 5
    assert Section.objects.count() == 40
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "5/5 kart" in summary and "offline" in summary


def test_make_cards_on_21_projects_exits_2_and_creates_nothing(db, tmp_path):
    with pytest.raises(CommandError) as caught:
        call_command("make_cards", str(CASES / "projekty-21.xlsx"), "--output", str(tmp_path / "x.docx"))

    assert caught.value.returncode == 2
    assert "20" in str(caught.value) and "21" in str(caught.value)
    assert Batch.objects.count() == 0 and Project.objects.count() == 0
    assert not (tmp_path / "x.docx").exists()


def test_make_cards_process_exit_code_is_2_for_an_invalid_workbook(manage_env, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "make_cards",
            str(CASES / "bledy-walidacji.xlsx"),
            "--output",
            str(tmp_path / "x.docx"),
        ],
        cwd=ROOT,
        env=manage_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    assert "wiersz 3" in result.stderr and "wiersz 4" in result.stderr and "wiersz 5" in result.stderr
    assert Batch.objects.count() == 0


def test_make_cards_with_missing_input_file_says_so(db, tmp_path):
    with pytest.raises(CommandError, match="Nie ma pliku"):
        call_command("make_cards", str(tmp_path / "brak.xlsx"), "--output", str(tmp_path / "x.docx"))


def test_make_cards_with_missing_output_folder_fails_before_importing(db, tmp_path):
    with pytest.raises(CommandError, match="nie istnieje"):
        call_command("make_cards", str(CASES / "projekty-demo.xlsx"), "--output", str(tmp_path / "nie" / "x.docx"))
    assert Batch.objects.count() == 0


def test_import_generate_export_one_step_at_a_time(worker, owner, tmp_path, capsys):
    call_command("import_batch", str(CASES / "arkusz-drugi.xlsx"), "--user", owner.username, "--name", "Klient — łódź")
    batch_id = int(capsys.readouterr().out.strip())
    batch = Batch.objects.get(pk=batch_id)
    assert batch.owner == owner and batch.name == "Klient — łódź" and batch.projects.count() == 3

    call_command("generate_batch", str(batch_id), "--wait")
    assert "Gotowe karty: 3/3" in capsys.readouterr().out

    out = tmp_path / "partia.docx"
    call_command("export_batch", str(batch_id), "--output", str(out))
    assert len(_headings(out, 1)) == 3


def test_import_batch_for_unknown_user_fails_clearly(db):
    with pytest.raises(CommandError, match="Nie ma użytkownika"):
        call_command("import_batch", str(CASES / "projekty-demo.xlsx"), "--user", "nikt")


def test_generate_batch_for_unknown_batch_fails_clearly(db):
    with pytest.raises(CommandError, match="Nie ma partii"):
        call_command("generate_batch", "999")


def test_create_demo_user_prints_a_login_that_works_and_is_stable(db, settings, tmp_path, capsys):
    settings.BASE_DIR = tmp_path
    call_command("create_demo_user")
    first = capsys.readouterr().out
    call_command("create_demo_user")
    second = capsys.readouterr().out

    password = first.split("Hasło: ")[1].strip()
    assert first == second
    assert User.objects.get(username="demo").check_password(password)
    assert len(password) >= 8 and any(c.isupper() for c in password) and any(c.isdigit() for c in password)


def _demo(capsys, *args) -> str:
    call_command("create_demo_user", *args)
    return capsys.readouterr().out


def _printed_password(out: str) -> str:
    return out.split("Hasło: ")[1].strip()


def test_create_demo_user_keeps_each_databases_password_apart(db, settings, tmp_path, capsys, monkeypatch):
    from django.db import connection

    settings.BASE_DIR = tmp_path
    first = _printed_password(_demo(capsys))  # "SQLite"
    User.objects.filter(username="demo").delete()
    monkeypatch.setitem(connection.settings_dict, "NAME", "rndcards-na-postgresie")
    other = _printed_password(_demo(capsys))  # the other database: a fresh demo account
    monkeypatch.undo()
    user = User.objects.get(username="demo")
    user.set_password(first)  # the first database's account, as it still is there
    user.save()

    assert _demo(capsys) == f"Login: demo\nHasło: {first}\n"
    assert User.objects.get(username="demo").check_password(first)
    assert other != first
    assert len(list((tmp_path / "var").glob("demo-*.password"))) == 2


def test_create_demo_user_does_not_reset_a_password_the_user_changed(db, settings, tmp_path, capsys):
    settings.BASE_DIR = tmp_path
    _demo(capsys)
    user = User.objects.get(username="demo")
    user.set_password("Moje-Nowe-Haslo-7")
    user.save()

    out = _demo(capsys)

    assert out.startswith("Login: demo\n")
    assert "Hasło: " not in out
    assert "zostało zmienione" in out and "create_demo_user --username demo --reset" in out
    assert User.objects.get(username="demo").check_password("Moje-Nowe-Haslo-7")

    reset = _printed_password(_demo(capsys, "--reset"))
    assert reset != "Moje-Nowe-Haslo-7" and User.objects.get(username="demo").check_password(reset)
    assert _printed_password(_demo(capsys)) == reset


def test_create_demo_user_adopts_the_password_file_written_before_files_were_per_database(
    db, settings, tmp_path, capsys
):
    settings.BASE_DIR = tmp_path
    User.objects.create_user("demo", password="Stare-Haslo-1")
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "demo.password").write_text("Stare-Haslo-1\n")

    assert _demo(capsys) == "Login: demo\nHasło: Stare-Haslo-1\n"
    assert _demo(capsys) == "Login: demo\nHasło: Stare-Haslo-1\n"


def test_create_demo_user_for_an_existing_account_without_a_stored_password_changes_nothing(
    db, settings, tmp_path, capsys
):
    settings.BASE_DIR = tmp_path
    User.objects.create_user("demo", password="Czyjes-Haslo-2")

    out = _demo(capsys)

    assert "Hasło: " not in out and "--reset" in out
    assert User.objects.get(username="demo").check_password("Czyjes-Haslo-2")


@pytest.mark.parametrize("username", ["../poza", "..", ".ukryty", "a/b", "ze spacją", "", "x" * 151, "a\x00b"])
def test_create_demo_user_refuses_a_user_name_that_is_not_a_safe_file_name(db, settings, tmp_path, capsys, username):
    settings.BASE_DIR = tmp_path / "projekt"

    with pytest.raises(CommandError, match="nie może być nazwą konta demo"):
        call_command("create_demo_user", "--username", username)

    assert not User.objects.exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_make_cards_with_a_rejected_file_creates_no_operator_account_either(db, tmp_path):
    with pytest.raises(CommandError) as caught:
        call_command("make_cards", str(CASES / "bledy-walidacji.xlsx"), "--output", str(tmp_path / "x.docx"))

    assert caught.value.returncode == 2
    assert not User.objects.exists()


def test_make_cards_with_a_mistyped_user_fails_before_anything_is_created(db, tmp_path, owner):
    with pytest.raises(CommandError) as caught:
        call_command(
            "make_cards",
            str(CASES / "projekty-demo.xlsx"),
            "--output",
            str(tmp_path / "x.docx"),
            "--user",
            "konsultnat",
            "--timeout",  # without the fix nothing would generate the cards: fail fast, not in an hour
            "1",
        )

    message = str(caught.value)
    assert message.startswith("Nie ma użytkownika „konsultnat”.")
    assert "create_demo_user --username konsultnat" in message and "createsuperuser" in message
    assert "/admin/" in message
    assert list(User.objects.values_list("username", flat=True)) == [owner.username]
    assert Batch.objects.count() == 0 and not (tmp_path / "x.docx").exists()


def test_make_cards_files_the_batch_under_an_existing_named_user(worker, owner, tmp_path):
    call_command(
        "make_cards",
        str(CASES / "arkusz-drugi.xlsx"),
        "--output",
        str(tmp_path / "x.docx"),
        "--user",
        owner.username,
        "--provider",
        "offline",
    )

    assert Batch.objects.get().owner == owner
    assert list(User.objects.values_list("username", flat=True)) == [owner.username]


def test_make_cards_without_user_creates_the_login_less_operator_once(worker, tmp_path):
    for _ in range(2):
        call_command(
            "make_cards",
            str(CASES / "arkusz-drugi.xlsx"),
            "--output",
            str(tmp_path / "x.docx"),
            "--provider",
            "offline",
        )

    operator = User.objects.get()
    assert operator.username == "operator" and not operator.has_usable_password()
    assert Batch.objects.filter(owner=operator).count() == 2


@pytest.mark.parametrize("username", ["", "ze spacją", "x" * 151])
def test_make_cards_refuses_an_invalid_user_name(db, tmp_path, username):
    with pytest.raises(CommandError, match="nie może być nazwą użytkownika"):
        call_command(
            "make_cards", str(CASES / "projekty-demo.xlsx"), "--output", str(tmp_path / "x.docx"), "--user", username
        )
    assert Batch.objects.count() == 0 and not User.objects.exists()


def test_make_cards_refuses_a_directory_as_output_before_importing(db, tmp_path):
    with pytest.raises(CommandError, match="jest katalogiem"):
        call_command("make_cards", str(CASES / "projekty-demo.xlsx"), "--output", str(tmp_path))
    assert Batch.objects.count() == 0


def test_make_cards_refuses_a_provider_without_a_key_before_importing(db, tmp_path, settings):
    settings.ANTHROPIC_API_KEY = ""

    with pytest.raises(CommandError, match="ANTHROPIC_API_KEY"):
        call_command(
            "make_cards",
            str(CASES / "projekty-demo.xlsx"),
            "--output",
            str(tmp_path / "x.docx"),
            "--provider",
            "anthropic",
        )
    assert Batch.objects.count() == 0


def test_generate_batch_waits_anyway_when_the_queue_lives_in_this_process(
    worker, owner, make_batch, monkeypatch, capsys
):
    monkeypatch.setattr("rndcards.worker.is_embedded", lambda: True)
    batch = make_batch(owner, projects=3)

    call_command("generate_batch", str(batch.pk), "--provider", "offline")

    out = capsys.readouterr().out
    assert "czekam na koniec" in out and "Gotowe karty: 3/3" in out
    assert set(batch.projects.values_list("status", flat=True)) == {Project.Status.GENERATED}


def test_make_cards_summary_tells_other_provider_cards_from_offline_drafts(worker, fake_llm, tmp_path, capsys):
    fake_llm.configure({"anthropic": {"fault": "529", "ratio": 1.0}})
    out = tmp_path / "karty.docx"

    call_command("make_cards", str(CASES / "projekty-demo.xlsx"), "--output", str(out), "--provider", "anthropic")

    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "5/5 kart" in summary
    assert "szkice offline zamiast AI: 0" in summary and "od drugiego dostawcy: 5" in summary
    assert set(Project.objects.values_list("provider", flat=True)) == {"openai"}


def test_rescore_cards_scores_cards_made_before_scoring(owner, make_batch, capsys):
    from cards import services

    first, second = make_batch(owner, projects=2), make_batch(owner, projects=1)
    for project in Project.objects.all():
        Project.objects.filter(pk=project.pk).update(status=Project.Status.QUEUED, requested_provider="offline")
        services.project_generate(project_id=project.pk)
    Project.objects.update(quality_score=None, quality_checks=[])

    call_command("rescore_cards", "--batch", str(first.pk))
    assert "Ocenione karty: 2." in capsys.readouterr().out
    assert not first.projects.filter(quality_score=None).exists()
    assert second.projects.get().quality_score is None
    call_command("rescore_cards")
    assert "Ocenione karty: 3." in capsys.readouterr().out
    assert not Project.objects.filter(quality_score=None).exists()


def test_rescore_cards_of_an_unknown_batch_says_so(db):
    with pytest.raises(CommandError, match="Nie ma partii o identyfikatorze 999"):
        call_command("rescore_cards", "--batch", "999")
