"""The admin and its delete confirmations name every model of ours in correct English plural (Django
appends an "s": "review tallys")."""

from __future__ import annotations

import re

from django.apps import apps


def test_no_model_of_ours_has_a_consonant_y_plural() -> None:
    wrong = {
        model.__name__: str(model._meta.verbose_name_plural)
        for model in apps.get_models()
        if model.__module__.startswith("modules.")
        and re.search(r"[^aeiou]ys$", str(model._meta.verbose_name_plural))
    }

    assert wrong == {}
