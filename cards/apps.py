from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CardsConfig(AppConfig):
    name = "cards"
    verbose_name = _("Karty projektów")

    def ready(self) -> None:
        from rndcards import worker

        worker.start_with_dev_server()
