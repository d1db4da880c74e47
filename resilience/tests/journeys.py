"""The consultant's main job through the real views, for the degraded-mode tests."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from batches.models import Batch, Project

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def upload(client, content: bytes, filename: str = "projekty-demo.xlsx", name: str = ""):
    data = {"file": SimpleUploadedFile(filename, content, content_type=XLSX), "name": name}
    return client.post(reverse("batch_upload"), data)


def upload_ok(client, content: bytes) -> Batch:
    response = upload(client, content)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Batch.objects.get(pk=int(response["Location"].rstrip("/").split("/")[-1]))


def generate_all(client, batch: Batch, worker, provider: str = "offline") -> list[Project]:
    response = client.post(reverse("batch_generate", args=[batch.pk]), {"provider": provider})
    assert response.status_code == 302
    worker.join()
    return list(batch.projects.order_by("row_number"))


def view_and_edit(client, project: Project, text: str = "<div>Poprawiony ręcznie cel — zapisany mimo awarii.</div>"):
    page = client.get(reverse("project_detail", args=[project.pk]))
    assert page.status_code == 200
    url = reverse("section_save", args=[project.pk, "cel_projektu"])
    response = client.post(url, {"text": text})
    assert response.status_code == 302
    assert project.sections.get(key="cel_projektu").text == text
    return page


def export_both(client, batch: Batch) -> None:
    docx = client.get(reverse("batch_export", args=[batch.pk]))
    assert docx.status_code == 200
    assert docx["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.wordprocessingml")
    assert b"".join(docx.streaming_content)[:2] == b"PK" if docx.streaming else docx.content[:2] == b"PK"
    xlsx = client.get(reverse("batch_export_xlsx", args=[batch.pk]))
    assert xlsx.status_code == 200
    assert b"".join(xlsx.streaming_content)[:2] == b"PK" if xlsx.streaming else xlsx.content[:2] == b"PK"


def banner(client) -> str:
    from resilience.health import forget_cached_report

    forget_cached_report()
    response = client.get(reverse("health_banner"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()
