from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: an audit record nobody can add, change or delete through the admin."""

    list_display = ("created_at", "actor_username", "action", "batch_name", "batch_id", "section_key", "ip_address")
    list_filter = ("action", ("actor", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("batch_name", "actor_username")
    date_hierarchy = "created_at"
    list_select_related = ("actor",)
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Admins only (superusers, or staff given this one permission explicitly): who did
        # what from which address is not for every staff account.
        return request.user.is_active and request.user.has_perm("audit.view_auditevent")
