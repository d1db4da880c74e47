from django.urls import path

from cards import views

urlpatterns = [
    path("batches/<int:pk>/generate/", views.batch_generate, name="batch_generate"),
    path("batches/<int:pk>/export.docx", views.batch_export, name="batch_export"),
    path("batches/<int:pk>/export.xlsx", views.batch_export_xlsx, name="batch_export_xlsx"),
    path("projects/<int:pk>/", views.project_detail, name="project_detail"),
    path("projects/<int:pk>/generate/", views.project_generate, name="project_generate"),
    path("projects/<int:pk>/export.docx", views.project_export, name="project_export"),
    # One resource URL: GET shows the section, POST saves it. Both names reverse to it;
    # the dispatching view picks the function by method.
    path("projects/<int:pk>/sections/<str:key>/", views.section, name="section_detail"),
    path("projects/<int:pk>/sections/<str:key>/", views.section, name="section_save"),
    path("projects/<int:pk>/sections/<str:key>/edit/", views.section_edit, name="section_edit"),
    path("projects/<int:pk>/review/", views.project_review, name="project_review"),
    path("projects/<int:pk>/sections/<str:key>/history/", views.section_history, name="section_history"),
    path(
        "projects/<int:pk>/sections/<str:key>/versions/<int:version_id>/revert/",
        views.section_revert,
        name="section_revert",
    ),
    path("projects/<int:pk>/sections/<str:key>/regenerate/", views.section_regenerate, name="section_regenerate"),
]
