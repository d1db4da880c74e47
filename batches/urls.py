from django.urls import path

from batches import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("batches/upload/", views.batch_upload, name="batch_upload"),
    path("batches/template.xlsx", views.batch_template, name="batch_template"),
    path("batches/<int:pk>/", views.batch_detail, name="batch_detail"),
    # ---- firms: sharing and deleting (owner only) ----
    path("batches/<int:pk>/share/", views.batch_share_view, name="batch_share"),
    path("batches/<int:pk>/delete/", views.batch_delete_view, name="batch_delete"),
]
