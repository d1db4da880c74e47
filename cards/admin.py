from django.contrib import admin

from cards.models import GenerationAttempt, Section, SectionVersion


@admin.register(SectionVersion)
class SectionVersionAdmin(admin.ModelAdmin):
    """Every version of every section (a section's history: filter by it). Read-only."""

    list_display = ("section", "number", "origin", "author", "provider", "model_name", "created_at")
    list_filter = ("origin", "provider", "created_at")
    search_fields = ("section__project__name", "section__project__batch__name", "text")
    list_select_related = ("section__project", "author")
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ("project", "key", "origin", "provider", "model_name", "updated_by", "updated_at")
    list_filter = ("key", "origin", "provider")
    search_fields = ("project__name", "project__batch__name")
    list_select_related = ("project", "updated_by")
    readonly_fields = (
        "project",
        "key",
        "position",
        "origin",
        "provider",
        "model_name",
        "updated_by",
        "updated_at",
        "version",
        "regen_state",
        "regen_provider",
        "regen_hints",
        "regen_requested_by",
        "regen_requested_at",
        "regen_message",
    )
    exclude = ("regen_base_version",)

    def save_model(self, request, obj: Section, form, change: bool) -> None:
        # The text is rendered as HTML on the consultant's page: an admin's edit goes
        # through the same sanitizer and is recorded as a manual edit.
        from django.contrib import messages

        from cards.services import CardLocked, project_rescore, section_update

        if change:
            try:
                section_update(section=obj, text=obj.text, author=request.user)
            except CardLocked as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
        else:
            super().save_model(request, obj, form, change)
            project_rescore(project=obj.project)


@admin.register(GenerationAttempt)
class GenerationAttemptAdmin(admin.ModelAdmin):
    """Every model call: why a card failed, how long it took, what it cost. Read-only."""

    list_display = (
        "started_at",
        "project",
        "section_key",
        "provider",
        "model_name",
        "outcome",
        "latency_ms",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "error_class",
    )
    list_filter = ("outcome", "provider", "prompt_version", "started_at")
    search_fields = ("project__name", "project__batch__name", "error_message", "error_class")
    list_select_related = ("project",)
    date_hierarchy = "started_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
