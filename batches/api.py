"""JSON API of batches: the list, an upload, a batch with its projects (one view per operation)."""

from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from batches import excel
from batches.forms import UploadForm
from batches.models import Batch, Project
from batches.selectors import batch_for_user, batches_for_user
from batches.services import batch_import
from cards.providers.registry import PROVIDER_LABELS
from rndcards.api import ApiError, Pagination
from rndcards.api_schema import COMMON_ERRORS, ErrorSerializer, errors
from rndcards.ratelimit import too_many_requests, upload_refusal


class BatchListApi(ListAPIView):
    """The user's batches, newest first, 20 a page."""

    pagination_class = Pagination

    class OutputSerializer(serializers.ModelSerializer):
        project_count = serializers.IntegerField()
        generated_count = serializers.IntegerField()
        approved_count = serializers.IntegerField()

        class Meta:
            model = Batch
            fields = [
                "id",
                "name",
                "client_name",
                "original_filename",
                "status",
                "uploaded_at",
                "updated_at",
                "project_count",
                "generated_count",
                "approved_count",
            ]
            ref_name = "BatchListItem"

    serializer_class = OutputSerializer

    def get_queryset(self):
        return batches_for_user(user=self.request.user).annotate(
            project_count=Count("projects"),
            generated_count=Count("projects", filter=Q(projects__status=Project.Status.GENERATED)),
            approved_count=Count("projects", filter=Q(projects__review_status=Project.Review.APPROVED)),
        )

    @extend_schema(
        operation_id="batches_list", summary="Lista partii", responses={200: OutputSerializer, **errors(*COMMON_ERRORS)}
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class BatchProjectSerializer(serializers.ModelSerializer):
    """A project as a row of its batch: status, score, provider."""

    provider_label = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "row_number",
            "name",
            "status",
            "review_status",
            "quality_score",
            "requested_provider",
            "provider",
            "provider_label",
            "model_name",
            "error_message",
            "generated_at",
        ]

    def get_provider_label(self, project: Project) -> str:
        return str(PROVIDER_LABELS.get(project.provider or project.requested_provider, ""))


class BatchDetailApi(APIView):
    """One batch with its projects in sheet order."""

    class OutputSerializer(serializers.ModelSerializer):
        projects = BatchProjectSerializer(many=True)

        class Meta:
            model = Batch
            fields = [
                "id",
                "name",
                "client_name",
                "original_filename",
                "status",
                "uploaded_at",
                "updated_at",
                "projects",
            ]
            ref_name = "BatchDetail"

    @extend_schema(
        operation_id="batches_retrieve",
        summary="Partia z projektami",
        responses={200: OutputSerializer, **errors(*COMMON_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        batch = batch_for_user(user=request.user, pk=pk)
        return Response(self.OutputSerializer(batch).data)


class BatchUploadApi(APIView):
    """Import a workbook (.xlsx, multipart field "file"): 201 with the batch, or 400 with every problem."""

    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(help_text="Arkusz .xlsx z projektami.")
        name = serializers.CharField(required=False, allow_blank=True, max_length=255, help_text="Nazwa partii.")

        class Meta:
            ref_name = "BatchUploadInput"

    @extend_schema(
        operation_id="batches_upload",
        summary="Import arkusza",
        request={"multipart/form-data": InputSerializer},
        responses={
            201: BatchDetailApi.OutputSerializer,
            **errors(*COMMON_ERRORS, 413),
            400: OpenApiResponse(
                ErrorSerializer,
                description="Niepoprawne pola (validation_error) albo odrzucony arkusz (invalid_workbook: "
                "error.errors = [{row, column, message}]).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        # The web form's stricter upload limit (RNDCARDS_UPLOAD_RATE per user) applies here too.
        if over_limit := upload_refusal(request):
            refusal, message = over_limit
            return too_many_requests(request, retry_after=refusal.retry_after, message=message)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The web form's rules (size before reading, and whatever else it checks) apply here too.
        form = UploadForm(request.data, request.FILES)
        if not form.is_valid():
            if form.too_large:
                raise ApiError(form.errors["file"][0], code="file_too_large", status_code=413)
            raise serializers.ValidationError({name: list(messages) for name, messages in form.errors.items()})
        upload = form.cleaned_data["file"]
        try:
            batch = batch_import(
                content=upload.read(), owner=request.user, filename=upload.name, name=form.cleaned_data["name"]
            )
        except excel.WorkbookError as exc:
            raise ApiError(
                "Arkusz nie został zaimportowany (nic nie zapisano). Popraw wskazane problemy i prześlij go ponownie.",
                code="invalid_workbook",
                status_code=400,
                errors=[{"row": p.row, "column": p.column, "message": p.message} for p in exc.problems],
            ) from exc
        return Response(BatchDetailApi.OutputSerializer(batch).data, status=status.HTTP_201_CREATED)
