"""Country labels: ISO 3166-1 alpha-2 codes, display names and UN M49 regions.

`normalize_country` reads a label through four sources:

- pycountry's ISO 3166-1 data: alpha-2, alpha-3 and numeric codes, names,
  official names and common names (exact matches only, never `search_fuzzy`);
- Babel's territory aliases, for example "UK" for GB;
- Babel's CLDR country names in the languages of `_NAME_LOCALES`;
- the owned alias table `_OWNED_ALIASES`, which overrides the other three.

Labels are compared after `_fold`: accents removed, case folded, typographic
apostrophes read as "'", hyphens and runs of whitespace read as one space. A label
that the first three sources map to different codes, or that `_AMBIGUOUS_LABELS`
lists, maps to None.

`region_of` reads `data/m49.csv`, whose source and terms `data/m49.SOURCE.md`
states.
"""

from __future__ import annotations

import csv
import functools
import unicodedata
from collections.abc import Iterator, Mapping
from importlib import resources

import pycountry
from babel import Locale, UnknownLocaleError
from babel.core import get_global

from revaxis._errors import InputError

__all__ = ["country_name", "normalize_country", "region_of"]

# CLDR locales whose country names normalize_country accepts. CLDR's "pt" is
# Brazilian Portuguese, so "pt_PT" adds 58 European spellings ("Arménia", "Irão").
_NAME_LOCALES = ("en", "fr", "de", "es", "it", "pt", "pt_PT", "nl")

# Labels that name more than one country or a continent. They map to None even
# where one source reads them as a country: pycountry and CLDR "es" call
# the Republic of the Congo (CG) "Congo".
_AMBIGUOUS_LABELS = frozenset(
    {
        "America",
        "Congo",
        "The Congo",
        "Korea",
        "Virgin Islands",
    }
)

# Babel aliases that are withdrawn ISO codes but read as something else in billing
# data. CT (Canton and Enderbury Islands), MI (Midway Islands) and NH (New Hebrides)
# are also US state codes, and ZAR (Zaire) is the ISO 4217 code of the South
# African rand.
_REJECTED_BABEL_ALIASES = frozenset({"CT", "MI", "NH", "ZAR"})

# Spellings that pycountry and CLDR lack ("U.S.", "England"), and common ones that
# they have today but could rename in a later release.
_OWNED_ALIASES: Mapping[str, str] = {
    # United States
    "USA": "US",
    "U.S.": "US",
    "U.S": "US",
    "U.S.A.": "US",
    "U.S.A": "US",
    "United States of America": "US",
    "The United States": "US",
    "The United States of America": "US",
    # United Kingdom and its constituent countries
    "U.K.": "GB",
    "U.K": "GB",
    "The United Kingdom": "GB",
    "Great Britain": "GB",
    "Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    # Korea
    "South Korea": "KR",
    "Korea, Republic of": "KR",
    "Republic of Korea": "KR",
    "Korea, South": "KR",
    "Korea (South)": "KR",
    "North Korea": "KP",
    "Korea, North": "KP",
    "Korea (North)": "KP",
    "DPRK": "KP",
    "Democratic People's Republic of Korea": "KP",
    # Congo
    "Republic of the Congo": "CG",
    "Congo-Brazzaville": "CG",
    "Congo (Brazzaville)": "CG",
    "Congo, Rep.": "CG",
    "Democratic Republic of the Congo": "CD",
    "Democratic Republic of Congo": "CD",
    "DR Congo": "CD",
    "DRC": "CD",
    "Congo-Kinshasa": "CD",
    "Congo (Kinshasa)": "CD",
    "Congo, Dem. Rep.": "CD",
    # China and its special administrative regions
    "Hong Kong SAR": "HK",
    "Hong Kong SAR China": "HK",
    "Hong Kong, China": "HK",
    "Macau": "MO",
    "Macao SAR": "MO",
    "Macau SAR": "MO",
    "Taiwan": "TW",
    "Chinese Taipei": "TW",
    # Short or former names
    "Ivory Coast": "CI",
    "Russia": "RU",
    "Vietnam": "VN",
    "Czech Republic": "CZ",
    "Czechia": "CZ",
    "Holland": "NL",
    "The Netherlands": "NL",
    "Iran": "IR",
    "Turkey": "TR",
    "Türkiye": "TR",
    "UAE": "AE",
    "U.A.E.": "AE",
    "Syria": "SY",
    "Laos": "LA",
    "Bolivia": "BO",
    "Venezuela": "VE",
    "Tanzania": "TZ",
    "Moldova": "MD",
    "Brunei": "BN",
    "Cape Verde": "CV",
    "Swaziland": "SZ",
    "Burma": "MM",
    "East Timor": "TL",
    "Macedonia": "MK",
    "North Macedonia": "MK",
    "Vatican": "VA",
    "Vatican City": "VA",
    "Palestine": "PS",
    "The Bahamas": "BS",
    "The Gambia": "GM",
}

# Apostrophe-like characters that labels use in place of "'".
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})

# Hyphen-like characters, read as spaces so that "Etats-Unis" equals "Etats Unis".
_HYPHENS = str.maketrans({"-": " ", "\u2010": " ", "\u2011": " ", "\u2013": " "})


def normalize_country(label: str | None) -> str | None:
    """Map a country label to its ISO 3166-1 alpha-2 code.

    Accepts codes (alpha-2, alpha-3, numeric with or without leading zeros) in any
    case, English names and official names, CLDR names in the languages of
    `_NAME_LOCALES` with or without accents, Babel's aliases ("UK") and the owned
    aliases ("USA", "Ivory Coast"). Surrounding whitespace is ignored.

    Returns None for None, an empty or blank label, an unknown label, or an
    ambiguous one such as "Korea" or "Congo". Raises TypeError for any other type,
    such as a pandas NaN.
    """
    if label is None:
        return None
    if not isinstance(label, str):
        raise TypeError(
            f"Invalid country label {label!r} of type {type(label).__name__}: "
            "pass a str or None, and convert missing values (NaN) to None first."
        )
    return _normalize_label(label)


def country_name(alpha2: str, locale: str = "en") -> str:
    """Return the CLDR display name of a country, for example "Allemagne" for DE in fr.

    `alpha2` is read case-insensitively. `locale` is a CLDR locale identifier such
    as "en", "fr" or "pt_BR" ("pt-BR" is accepted too). Where that locale has no
    name for the country, the English CLDR name is returned.

    Raises InputError (a ValueError) for a code that is not an ISO 3166-1 alpha-2
    code in pycountry, and for an unknown locale.
    """
    code = alpha2.strip().upper()
    if code not in _alpha2_codes():
        raise InputError(
            f"Unknown ISO 3166-1 alpha-2 code {alpha2!r}: pass a two-letter code "
            "such as 'FR', or map the label with normalize_country() first."
        )
    names = _territory_names(locale)
    if code in names:
        return names[code]
    return _territory_names("en")[code]


def region_of(alpha2: str) -> tuple[str, str] | None:
    """Return the UN M49 (region, sub-region) of a country, in English.

    For example FR gives ("Europe", "Western Europe") and BR gives ("Americas",
    "Latin America and the Caribbean"): the sub-region level is used, never the
    intermediate region ("South America"). `alpha2` is read case-insensitively.

    Returns None for an unknown code and for codes that M49 places in no region:
    Antarctica (AQ) and Taiwan (TW).
    """
    return _m49_regions().get(alpha2.strip().upper())


# Bounded so that a column of free-text labels cannot grow the cache without limit.
@functools.lru_cache(maxsize=65_536)
def _normalize_label(label: str) -> str | None:
    key = _fold(label)
    if key.isascii() and key.isdigit() and len(key) <= 3:
        key = key.zfill(3)
    return _label_table().get(key)


def _fold(text: str) -> str:
    """Return the lookup key of a label.

    Spellings that differ only in accents, case, apostrophe style, hyphens or
    whitespace share one key: "  Côte d’Ivoire" and "cote d'ivoire" give the same.
    """
    text = text.translate(_APOSTROPHES).translate(_HYPHENS)
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split())


@functools.cache
def _label_table() -> dict[str, str]:
    """Build the map from folded label to alpha-2 code, once per process."""
    candidates: dict[str, set[str]] = {}
    sources = (_pycountry_labels(), _babel_aliases(), _babel_names())
    for source in sources:
        for label, code in source:
            candidates.setdefault(_fold(label), set()).add(code)

    table = {
        key: next(iter(codes)) for key, codes in candidates.items() if len(codes) == 1
    }
    for label, code in _OWNED_ALIASES.items():
        table[_fold(label)] = code
    for label in _AMBIGUOUS_LABELS:
        table.pop(_fold(label), None)
    return table


def _pycountry_labels() -> Iterator[tuple[str, str]]:
    for country in pycountry.countries:
        code = country.alpha_2
        yield code, code
        yield country.alpha_3, code
        yield country.numeric, code
        for attribute in ("name", "official_name", "common_name"):
            value = getattr(country, attribute, None)
            if value:
                yield value, code


def _babel_aliases() -> Iterator[tuple[str, str]]:
    """Yield Babel's alphabetic territory aliases that have one current successor.

    Skips `_REJECTED_BABEL_ALIASES`, aliases with several successors ("SU" for the
    Soviet Union, "YU" for Yugoslavia) and numeric aliases, which pycountry covers.
    """
    codes = _alpha2_codes()
    for alias, targets in get_global("territory_aliases").items():
        if not alias.isalpha() or alias in _REJECTED_BABEL_ALIASES:
            continue
        if len(targets) == 1 and targets[0] in codes:
            yield alias, targets[0]


def _babel_names() -> Iterator[tuple[str, str]]:
    codes = _alpha2_codes()
    for locale in _NAME_LOCALES:
        for code, name in Locale.parse(locale).territories.items():
            if code in codes:
                yield name, code


@functools.cache
def _alpha2_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


@functools.lru_cache(maxsize=64)
def _territory_names(locale: str) -> Mapping[str, str]:
    try:
        return Locale.parse(locale.replace("-", "_")).territories
    except (UnknownLocaleError, ValueError) as error:
        raise InputError(
            f"Unknown locale {locale!r}: pass a CLDR locale identifier such as "
            "'en', 'fr' or 'pt_BR'."
        ) from error


@functools.cache
def _m49_regions() -> dict[str, tuple[str, str]]:
    """Read data/m49.csv (columns alpha2, region, subregion) once per process."""
    path = resources.files("revaxis") / "data" / "m49.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    return {
        row["alpha2"]: (row["region"], row["subregion"])
        for row in csv.DictReader(lines)
    }
