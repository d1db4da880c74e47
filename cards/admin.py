from django.contrib import admin

from cards.models import Section


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ("project", "key", "origin", "provider", "model_name", "updated_by", "updated_at")
    list_filter = ("key", "origin", "provider")
    search_fields = ("project__name", "project__batch__name")
    list_select_related = ("project", "updated_by")
    readonly_fields = ("updated_at",)
