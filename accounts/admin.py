from django.contrib import admin

from accounts.models import BatchShare, Firm, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = ("user", "joined_at")
    readonly_fields = ("joined_at",)
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Firm)
class FirmAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "firm", "joined_at")
    list_filter = ("firm",)
    search_fields = ("user__username", "user__first_name", "user__last_name", "firm__name")
    list_select_related = ("user", "firm")
    raw_id_fields = ("user",)


@admin.register(BatchShare)
class BatchShareAdmin(admin.ModelAdmin):
    list_display = ("batch", "user", "shared_by", "shared_at")
    search_fields = ("batch__name", "user__username", "shared_by__username")
    list_select_related = ("batch", "user", "shared_by")
    raw_id_fields = ("batch", "user", "shared_by")
    readonly_fields = ("shared_at",)
