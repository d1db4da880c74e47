from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from resilience import views as resilience_views
from rndcards import metrics as metrics_views

urlpatterns = [
    path("", include("batches.urls")),
    path("", include("cards.urls")),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health", resilience_views.health, name="health"),
    # ops: Prometheus scrape (allowed addresses or bearer token only; 404 for others)
    path("metrics", metrics_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
