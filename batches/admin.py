from django.contrib import admin
from django.db.models import Count, Q

from batches.models import Batch, Project
from cards.models import Section


class ProjectInline(admin.TabularInline):
    model = Project
    fields = ("row_number", "name", "status", "provider", "model_name", "error_message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("name", "client_name", "owner", "status", "project_count", "generated_count", "uploaded_at")
    list_filter = ("status", "uploaded_at")
    search_fields = ("name", "client_name", "original_filename", "owner__username")
    readonly_fields = (
        "token",
        "uploaded_at",
        "updated_at",
        "ai_usage",
        # the "batch finished" e-mail: when it went out, or why it did not
        "generation_run",
        "notified_run",
        "notified_at",
        "notification_error",
    )
    list_select_related = ("owner",)
    inlines = [ProjectInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _projects=Count("projects"),
                _generated=Count("projects", filter=Q(projects__status=Project.Status.GENERATED)),
            )
        )

    @admin.display(description="zużycie AI")
    def ai_usage(self, obj: Batch) -> str:
        from cards.services import batch_usage

        usage = batch_usage(batch=obj)
        return (
            f"wejście {usage['input_tokens']:,} (z pamięci podręcznej {usage['cached_tokens']:,}), "
            f"wyjście {usage['output_tokens']:,} tokenów; szacowany koszt ${usage['cost_usd']:.4f}"
        ).replace(",", " ")

    @admin.display(description="projekty", ordering="_projects")
    def project_count(self, obj: Batch) -> int:
        return obj._projects

    @admin.display(description="gotowe karty", ordering="_generated")
    def generated_count(self, obj: Batch) -> int:
        return obj._generated


class SectionInline(admin.TabularInline):
    model = Section
    fields = ("position", "key", "origin", "provider", "model_name", "updated_by", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("position",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "batch",
        "row_number",
        "status",
        "requested_provider",
        "provider",
        "model_name",
        "short_error",
        "quality_score",
        "generated_at",
    )
    list_filter = ("status", "provider", "requested_provider")
    search_fields = ("name", "responsible_person", "batch__name", "error_message")
    list_select_related = ("batch",)
    # What the generation recorded is evidence: shown, not edited.
    readonly_fields = (
        "status",
        "requested_provider",
        "provider",
        "model_name",
        "error_message",
        "queued_at",
        "started_at",
        "generated_at",
        "updated_at",
        # Derived from the sections (cards.quality) on every change: not edited by hand.
        "quality_score",
        "quality_checks",
    )
    inlines = [SectionInline]
    actions = ["requeue", "requeue_stuck"]

    @admin.display(description="błąd")
    def short_error(self, obj: Project) -> str:
        return obj.error_message[:120] + ("…" if len(obj.error_message) > 120 else "")

    @admin.action(description="Generuj ponownie wybrane projekty (bez nadpisywania edycji ręcznych)")
    def requeue(self, request, queryset):
        from cards.services import projects_enqueue

        count = 0
        for batch_id in set(queryset.values_list("batch_id", flat=True)):
            batch = Batch.objects.get(pk=batch_id)
            ids = list(queryset.filter(batch_id=batch_id).values_list("pk", flat=True))
            count += projects_enqueue(project_ids=ids, provider="", batch=batch)
        self.message_user(request, f"Dodano do kolejki: {count}.")

    @admin.action(description="Wznów utknięte (w kolejce lub generowane dłużej niż 16 min)")
    def requeue_stuck(self, request, queryset):
        import datetime

        from cards.services import projects_requeue_stuck

        ids = projects_requeue_stuck(
            older_than=datetime.timedelta(minutes=16), project_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(
            request,
            f"Ponownie w kolejce: {len(ids)}. Projekty w kolejce lub generowane krócej niż 16 min "
            "pominięto — prawdopodobnie wciąż są obsługiwane.",
        )
