from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ResilienceConfig(AppConfig):
    name = "resilience"
    verbose_name = _("Odporność i zdrowie systemu")
