from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from resilience import views as resilience_views

# A database that cannot be reached gets a Polish "system unavailable" page (503).
handler500 = "resilience.views.server_error"

urlpatterns = [
    path("", include("batches.urls")),
    path("", include("cards.urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # --- health (resilience) ---
    path("health", resilience_views.health, name="health"),
    path("health/detailed", resilience_views.health_detailed, name="health_detailed"),
    path("health/banner", resilience_views.health_banner, name="health_banner"),
    path("api/health", resilience_views.health, name="api_health"),
    path("api/health/detailed", resilience_views.health_detailed, name="api_health_detailed"),
    # --- end health ---
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
