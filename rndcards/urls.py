from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from resilience import views as resilience_views
from rndcards import lockout
from rndcards import metrics as metrics_views
from rndcards.ratelimit import login_rate_limited

urlpatterns = [
    path("", include("batches.urls")),
    path("", include("cards.urls")),
    path(
        "login/",
        # Stricter limit on login POSTs, per client address and per username (rndcards/ratelimit.py).
        login_rate_limited(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # --- accounts: password change (logged in) and reset (by e-mail) ---
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        lockout.PasswordResetConfirmView.as_view(),  # also lifts a login lockout
        name="password_reset_confirm",
    ),
    path("password/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # ops: Prometheus scrape (allowed addresses or bearer token only; 404 for others)
    path("metrics", metrics_views.metrics, name="metrics"),
    # --- health (resilience) ---
    path("health", resilience_views.health, name="health"),
    path("health/detailed", resilience_views.health_detailed, name="health_detailed"),
    path("health/banner", resilience_views.health_banner, name="health_banner"),
    path("api/health", resilience_views.health, name="api_health"),
    path("api/health/detailed", resilience_views.health_detailed, name="api_health_detailed"),
    # --- end health ---
    path("admin/", admin.site.urls),
    # --- JSON API (api) ---
    path("api/", include("rndcards.api_urls")),
]

# JSON errors for /api/ addresses no view answers (and errors outside DRF views); pages elsewhere
# (a database that cannot be reached: a Polish "system unavailable" 503, resilience.views.server_error).
handler404 = "rndcards.api.api_or_page_not_found"
handler500 = "rndcards.api.api_or_server_error"

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
