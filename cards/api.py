"""JSON API of cards: generation, exports, a project's card, editing and regenerating a section."""

from django.db.models import Prefetch, prefetch_related_objects
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditEvent
from audit.services import audit_record
from batches.models import Project
from batches.selectors import batch_for_user, project_for_user
from cards import services
from cards.forms import SECTION_MAX_CHARS, SectionForm
from cards.hints import MAX_HINTS_CHARS
from cards.models import Section
from cards.providers.registry import MODEL_CHOICES, PROVIDER_LABELS, ProviderNotConfigured
from cards.sections import SECTION_KEYS
from cards.views import DOCX_CONTENT_TYPE, XLSX_CONTENT_TYPE
from rndcards.api import ApiError
from rndcards.api_schema import COMMON_ERRORS, errors
from rndcards.http import download_response

QUEUE_DOWN = 503
LOCKED = 423

SECTION_KEY_PARAMETER = OpenApiParameter(
    "key", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(SECTION_KEYS), description="Klucz sekcji karty."
)


def _locked(exc: services.CardLocked) -> ApiError:
    return ApiError(
        "Karta jest zatwierdzona — edycja i ponowne generowanie są zablokowane. "
        "Aby coś zmienić, otwórz kartę ponownie (przycisk „Otwórz ponownie” na stronie karty).",
        code="card_locked",
        status_code=LOCKED,
    )


def _queue_down(exc: services.CardsNotQueued) -> ApiError:
    return ApiError(str(exc), code="queue_unavailable", status_code=QUEUE_DOWN, queued=exc.queued)


def _section_for_user(request: Request, pk: int, key: str) -> Section:
    """A section of a project the user may see: the project through the ownership selector, else 404."""
    project = project_for_user(user=request.user, pk=pk)
    if key not in SECTION_KEYS:
        raise ApiError(
            f"Nie ma sekcji o takim kluczu. Dostępne: {', '.join(SECTION_KEYS)}.", code="not_found", status_code=404
        )
    section = get_object_or_404(Section.objects.select_related("updated_by"), project=project, key=key)
    section.project = project
    return section


class SectionSerializer(serializers.ModelSerializer):
    heading = serializers.CharField(read_only=True)
    author = serializers.CharField(source="author_name", read_only=True)

    class Meta:
        model = Section
        fields = [
            "key",
            "heading",
            "position",
            "text",
            "version",
            "origin",
            "provider",
            "model_name",
            "author",
            "updated_at",
            "regen_state",
            "regen_message",
        ]
        read_only_fields = fields


# --------------------------------------------------------------------------- batch: generate, export


class BatchGenerateApi(APIView):
    """Queue the batch's cards (those without a card or failed; with include_done also finished ones)."""

    class InputSerializer(serializers.Serializer):
        provider = serializers.ChoiceField(
            choices=list(PROVIDER_LABELS), required=False, help_text="Domyślnie: dostawca domyślny instalacji."
        )
        include_done = serializers.BooleanField(default=False, help_text="Także gotowe karty (zastępuje ich tekst).")

        class Meta:
            ref_name = "BatchGenerateInput"

    class OutputSerializer(serializers.Serializer):
        queued = serializers.IntegerField(help_text="Ile kart dodano do kolejki.")
        message = serializers.CharField()

        class Meta:
            ref_name = "BatchGenerateResult"

    @extend_schema(
        operation_id="batches_generate",
        summary="Generowanie kart partii",
        request=InputSerializer,
        responses={202: OutputSerializer, 200: OutputSerializer, **errors(*COMMON_ERRORS, 503)},
    )
    def post(self, request: Request, pk: int) -> Response:
        batch = batch_for_user(user=request.user, pk=pk)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            queued = services.batch_generate(
                batch=batch, provider=data.get("provider", ""), include_done=data["include_done"], actor=request.user
            )
        except ProviderNotConfigured as exc:
            raise serializers.ValidationError({"provider": [str(exc)]}) from exc
        except services.CardsNotQueued as exc:
            raise _queue_down(exc) from exc
        if queued:
            message = f"Dodano do kolejki projekty: {queued}."
        else:
            message = (
                "Nie ma kart do wygenerowania: pozostałe są gotowe, w kolejce albo zatwierdzone. "
                "Aby wygenerować gotowe karty ponownie, wyślij include_done=true."
            )
        body = self.OutputSerializer({"queued": queued, "message": message}).data
        return Response(body, status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK)


class BatchExportApi(APIView):
    """The batch as a Word document (.docx: generated cards) or a spreadsheet (.xlsx: every project)."""

    def perform_content_negotiation(self, request, force=False):
        # The body is a file whatever the client accepts; errors stay JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="batches_export",
        summary="Eksport partii (.docx albo .xlsx)",
        parameters=[OpenApiParameter("fmt", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["docx", "xlsx"])],
        responses={
            (200, DOCX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="Dokument Word (fmt=docx)."),
            (200, XLSX_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.BINARY, description="Arkusz Excel (fmt=xlsx)."),
            **errors(*COMMON_ERRORS, 409),
        },
    )
    def get(self, request: Request, pk: int, fmt: str):
        batch = batch_for_user(user=request.user, pk=pk)
        if fmt == "xlsx":
            data = services.batch_export_xlsx(batch=batch)
            content_type = XLSX_CONTENT_TYPE
        else:
            data = services.batch_export_docx(batch=batch)
            content_type = DOCX_CONTENT_TYPE
            if data is None:
                raise ApiError(
                    "Żadna karta tej partii nie jest jeszcze wygenerowana — nie ma czego eksportować. "
                    "Najpierw wygeneruj karty (POST /api/batches/{id}/generate/).",
                    code="nothing_to_export",
                    status_code=409,
                )
        action = AuditEvent.Action.EXPORT_XLSX if fmt == "xlsx" else AuditEvent.Action.EXPORT_DOCX
        audit_record(actor=request.user, action=action, batch=batch, request=request)
        return download_response(
            data, name=batch.name, extension=fmt, content_type=content_type, fallback="karty-projektow-B+R"
        )


# --------------------------------------------------------------------------- project, sections


class ProjectDetailApi(APIView):
    """A project's input and card: every section with its text, version and origin."""

    class OutputSerializer(serializers.ModelSerializer):
        batch = serializers.IntegerField(source="batch_id")
        sections = SectionSerializer(many=True)
        quality_checks = serializers.ListField(child=serializers.DictField())

        class Meta:
            model = Project
            fields = [
                "id",
                "batch",
                "row_number",
                "name",
                "description",
                "goal",
                "start_date",
                "end_date",
                "responsible_person",
                "status",
                "review_status",
                "quality_score",
                "quality_checks",
                "requested_provider",
                "provider",
                "model_name",
                "error_message",
                "generated_at",
                "sections",
            ]
            ref_name = "ProjectDetail"

    @extend_schema(
        operation_id="projects_retrieve",
        summary="Karta projektu",
        responses={200: OutputSerializer, **errors(*COMMON_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        project = project_for_user(user=request.user, pk=pk)
        prefetch_related_objects([project], Prefetch("sections", Section.objects.select_related("updated_by")))
        return Response(self.OutputSerializer(project).data)


class SectionApi(APIView):
    """GET one section; PUT/PATCH saves the consultant's text over the version they read."""

    class InputSerializer(serializers.Serializer):
        text = serializers.CharField(
            max_length=SECTION_MAX_CHARS,
            allow_blank=True,
            trim_whitespace=False,
            help_text="HTML edytora (div, p, br, strong, b, em, i, ul, ol, li); resztę serwer usuwa.",
        )
        base_version = serializers.IntegerField(
            min_value=1,
            max_value=2**31 - 1,
            help_text="Wersja sekcji, którą edytowano; inna niż obecna → 409 z current_version.",
        )

        class Meta:
            ref_name = "SectionUpdateInput"

        def validate_text(self, value: str) -> str:
            # The web editor's form decides what a valid text is (empty after sanitizing, length).
            form = SectionForm({"text": value})
            if not form.is_valid() and "text" in form.errors:
                raise serializers.ValidationError(list(form.errors["text"]))
            return value

    @extend_schema(
        operation_id="sections_retrieve",
        summary="Sekcja karty",
        parameters=[SECTION_KEY_PARAMETER],
        responses={200: SectionSerializer, **errors(*COMMON_ERRORS)},
    )
    def get(self, request: Request, pk: int, key: str) -> Response:
        return Response(SectionSerializer(_section_for_user(request, pk, key)).data)

    @extend_schema(
        operation_id="sections_update",
        summary="Zapis sekcji",
        parameters=[SECTION_KEY_PARAMETER],
        request=InputSerializer,
        responses={200: SectionSerializer, **errors(*COMMON_ERRORS, 409, 423)},
    )
    def put(self, request: Request, pk: int, key: str) -> Response:
        section = _section_for_user(request, pk, key)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            services.section_update(
                section=section, text=data["text"], author=request.user, base_version=data["base_version"]
            )
        except services.CardLocked as exc:
            raise _locked(exc) from exc
        except services.SectionConflict as exc:
            current = Section.objects.values_list("version", flat=True).get(pk=section.pk)
            raise ApiError(
                f"Ta sekcja została w międzyczasie zmieniona (obecna wersja: {current}, Twoja: "
                f"{data['base_version']}). Nic nie zapisano. Pobierz obecną treść, nanieś swoje zmiany "
                f"i wyślij je ponownie z base_version={current}.",
                code="section_conflict",
                status_code=409,
                current_version=current,
            ) from exc
        section.refresh_from_db()
        return Response(SectionSerializer(section).data)

    @extend_schema(
        operation_id="sections_partial_update",
        summary="Zapis sekcji (PATCH, jak PUT)",
        parameters=[SECTION_KEY_PARAMETER],
        request=InputSerializer,
        responses={200: SectionSerializer, **errors(*COMMON_ERRORS, 409, 423)},
    )
    def patch(self, request: Request, pk: int, key: str) -> Response:
        # The text is the only thing a consultant changes, so a PATCH is a PUT.
        return self.put(request, pk, key)


class SectionRegenerateApi(APIView):
    """Queue a regeneration of one section with the consultant's hints (202); the result arrives later."""

    class InputSerializer(serializers.Serializer):
        hints = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_HINTS_CHARS, help_text="Co poprawić w sekcji."
        )
        model = serializers.ChoiceField(choices=[*MODEL_CHOICES, "offline"], help_text="claude, gpt4 albo offline.")

        class Meta:
            ref_name = "SectionRegenerateInput"

    @extend_schema(
        operation_id="sections_regenerate",
        summary="Ponowne generowanie sekcji",
        parameters=[SECTION_KEY_PARAMETER],
        request=InputSerializer,
        responses={202: SectionSerializer, **errors(*COMMON_ERRORS, 409, 423, 503)},
    )
    def post(self, request: Request, pk: int, key: str) -> Response:
        section = _section_for_user(request, pk, key)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            queued = services.section_regenerate(
                section=section, hints=data.get("hints", ""), model=data["model"], author=request.user
            )
        except services.HintsRefused as exc:
            raise serializers.ValidationError({"hints": [str(exc)]}) from exc
        except ProviderNotConfigured as exc:
            raise serializers.ValidationError({"model": [str(exc)]}) from exc
        except services.CardLocked as exc:
            raise _locked(exc) from exc
        except services.SectionBusy as exc:
            raise ApiError(str(exc), code="section_busy", status_code=409) from exc
        except services.CardsNotQueued as exc:
            raise _queue_down(exc) from exc
        if not queued:
            raise ApiError(
                "Ta sekcja jest już generowana — poczekaj na wynik i spróbuj ponownie.",
                code="section_busy",
                status_code=409,
            )
        return Response(SectionSerializer(section).data, status=status.HTTP_202_ACCEPTED)
