"""Languages of the web app: message catalogs and Babel number and date formats.

English is the source language. Each other language has gettext catalogs in
`locales/<code>/*.po` (one per part of the app), read with Babel on first use
(no compiled .mo files). A message missing from them is shown in English.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path

import pandas as pd
from babel import Locale
from babel.dates import format_date
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent

LANGUAGES = {"en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "revaxis_lang"

_LOCALES = Path(__file__).parent / "locales"


@cache
def catalog(language: str) -> dict[str, str]:
    """Return msgid -> translation for a language; English maps to nothing."""
    messages: dict[str, str] = {}
    if language == DEFAULT_LANGUAGE:
        return messages
    for path in sorted((_LOCALES / language).glob("*.po")):
        with path.open("rb") as handle:
            po = read_po(handle, locale=language)
        for message in po:
            if message.id and message.string and not message.fuzzy:
                messages[str(message.id)] = str(message.string)
    return messages


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    """Return the cookie's language, else the first known language of the
    browser's Accept-Language header, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


class Formatter:
    """Translations and locale-aware formats of one language, for templates."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self._messages = catalog(language)

    def gettext(self, message: str, **values: object) -> str:
        text = self._messages.get(message, message)
        return text % values if values else text

    def money(self, value: float | None, currency: str, digits: int = 0) -> str:
        if _missing(value):
            return "–"
        pattern = None if digits else "¤#,##0"
        if digits == 0 and self.language == "fr":
            pattern = "#,##0 ¤"
        return format_currency(
            value,
            currency,
            format=pattern,
            locale=self.locale,
            currency_digits=digits != 0,
        )

    def number(self, value: float | None, digits: int = 0) -> str:
        if _missing(value):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=pattern, locale=self.locale)

    def percent(self, value: float | None, digits: int = 1) -> str:
        if _missing(value):
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "") + " %"
        if self.language == "en":
            pattern = pattern.replace(" %", "%")
        return format_percent(value, format=pattern, locale=self.locale)

    def date(self, value: dt.date | str | None) -> str:
        if _missing(value) or value == "":
            return "–"
        if isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        return format_date(value, format="medium", locale=self.locale)


def _missing(value: object) -> bool:
    """Return whether a value is absent: None, NaN, or pandas' NaT and NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
