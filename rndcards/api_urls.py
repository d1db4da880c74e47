"""URLs of the JSON API, included under /api/ (health's /api/health lives with the health views)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from batches import api as batches_api
from cards import api as cards_api
from rndcards import api_auth
from rndcards.ratelimit import login_rate_limited

urlpatterns = [
    # The same stricter limit as the login form (per client address; per username for form posts).
    path("auth/token/", login_rate_limited(api_auth.TokenObtainApi.as_view()), name="api_token_obtain"),
    path("auth/token/refresh/", api_auth.TokenRefreshApi.as_view(), name="api_token_refresh"),
    path("auth/token/verify/", api_auth.TokenVerifyApi.as_view(), name="api_token_verify"),
    path("batches/", batches_api.BatchListApi.as_view(), name="api_batch_list"),
    path("batches/upload/", batches_api.BatchUploadApi.as_view(), name="api_batch_upload"),
    path("batches/<int:pk>/", batches_api.BatchDetailApi.as_view(), name="api_batch_detail"),
    path("batches/<int:pk>/generate/", cards_api.BatchGenerateApi.as_view(), name="api_batch_generate"),
    re_path(
        r"^batches/(?P<pk>[0-9]+)/export\.(?P<fmt>docx|xlsx)$",
        cards_api.BatchExportApi.as_view(),
        name="api_batch_export",
    ),
    path("projects/<int:pk>/", cards_api.ProjectDetailApi.as_view(), name="api_project_detail"),
    path("projects/<int:pk>/sections/<str:key>/", cards_api.SectionApi.as_view(), name="api_section"),
    path(
        "projects/<int:pk>/sections/<str:key>/regenerate/",
        cards_api.SectionRegenerateApi.as_view(),
        name="api_section_regenerate",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="api/swagger_ui.html"),
        name="api_docs",
    ),
]
