"""Give every existing section its first version, so that its history starts with its current text."""

from django.db import migrations


def create_initial_versions(apps, schema_editor):
    Section = apps.get_model("cards", "Section")
    SectionVersion = apps.get_model("cards", "SectionVersion")
    sections = Section.objects.filter(versions__isnull=True).iterator(chunk_size=500)
    batch = []
    for section in sections:
        batch.append(
            SectionVersion(
                section_id=section.pk,
                number=section.version,
                text=section.text,
                origin=section.origin,
                author_id=section.updated_by_id,
                provider=section.provider,
                model_name=section.model_name,
                created_at=section.updated_at,
            )
        )
        if len(batch) >= 500:
            SectionVersion.objects.bulk_create(batch)
            batch = []
    SectionVersion.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("cards", "0003_versions_and_section_regeneration")]

    operations = [migrations.RunPython(create_initial_versions, migrations.RunPython.noop)]
