from __future__ import annotations

import csv
import time
from collections import Counter
from importlib import resources

import pycountry
import pytest

from revaxis._countries import (
    _NAME_LOCALES,
    country_name,
    normalize_country,
    region_of,
)
from revaxis._errors import InputError

ALPHA2_CODES = frozenset(country.alpha_2 for country in pycountry.countries)

# Codes that the UN M49 standard places in no region: Antarctica sits directly
# under "World", and Taiwan has no M49 entry.
CODES_WITHOUT_M49_REGION = frozenset({"AQ", "TW"})

M49_REGIONS = frozenset({"Africa", "Americas", "Asia", "Europe", "Oceania"})


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        pytest.param("FR", "FR", id="alpha2-upper"),
        pytest.param("fr", "FR", id="alpha2-lower"),
        pytest.param("fra", "FR", id="alpha3-lower"),
        pytest.param("DEU", "DE", id="alpha3-upper"),
        pytest.param("250", "FR", id="numeric"),
        pytest.param("4", "AF", id="numeric-without-leading-zeros"),
        pytest.param("004", "AF", id="numeric-with-leading-zeros"),
        pytest.param("France", "FR", id="english-name"),
        pytest.param("france ", "FR", id="english-name-lower-padded"),
        pytest.param("French Republic", "FR", id="official-name"),
        pytest.param("Allemagne", "DE", id="french-name"),
        pytest.param("Royaume-Uni", "GB", id="french-name-hyphen"),
        pytest.param("États-Unis", "US", id="french-name-accented"),
        pytest.param("Etats-Unis", "US", id="french-name-unaccented"),
        pytest.param("Etats Unis", "US", id="french-name-without-hyphen"),
        pytest.param("Deutschland", "DE", id="german-name"),
        pytest.param("Vereinigte Staaten", "US", id="german-name-us"),
        pytest.param("Estados Unidos", "US", id="spanish-name"),
        pytest.param("Regno Unito", "GB", id="italian-name"),
        pytest.param("Irã", "IR", id="brazilian-portuguese-name"),
        pytest.param("Irão", "IR", id="european-portuguese-name"),
        pytest.param("Verenigd Koninkrijk", "GB", id="dutch-name"),
        pytest.param("UK", "GB", id="babel-alias-uk"),
        pytest.param("BU", "MM", id="babel-alias-withdrawn-code"),
        pytest.param("USA", "US", id="owned-alias-usa"),
        pytest.param("U.S.", "US", id="owned-alias-us-dotted"),
        pytest.param("U.S.A.", "US", id="owned-alias-usa-dotted"),
        pytest.param("United States of America", "US", id="owned-alias-us-long"),
        pytest.param("Côte d’Ivoire", "CI", id="typographic-apostrophe"),
        pytest.param("Côte d'Ivoire", "CI", id="ascii-apostrophe"),
        pytest.param("Ivory Coast", "CI", id="owned-alias-ivory-coast"),
        pytest.param("South Korea", "KR", id="owned-alias-south-korea"),
        pytest.param("Korea, Republic of", "KR", id="iso-name-south-korea"),
        pytest.param("Russia", "RU", id="owned-alias-russia"),
        pytest.param("Vietnam", "VN", id="owned-alias-vietnam"),
        pytest.param("Czech Republic", "CZ", id="owned-alias-czech-republic"),
        pytest.param("Holland", "NL", id="owned-alias-holland"),
        pytest.param("Great Britain", "GB", id="owned-alias-great-britain"),
        pytest.param("England", "GB", id="owned-alias-england"),
        pytest.param("Scotland", "GB", id="owned-alias-scotland"),
        pytest.param("Wales", "GB", id="owned-alias-wales"),
        pytest.param("Northern Ireland", "GB", id="owned-alias-northern-ireland"),
        pytest.param("Hong Kong SAR", "HK", id="owned-alias-hong-kong-sar"),
        pytest.param("Taiwan", "TW", id="owned-alias-taiwan"),
        pytest.param("Iran", "IR", id="owned-alias-iran"),
        pytest.param("Turkey", "TR", id="owned-alias-turkey"),
        pytest.param("Türkiye", "TR", id="owned-alias-turkiye"),
        pytest.param("DRC", "CD", id="owned-alias-drc"),
        pytest.param("  Australia   ", "AU", id="padded-both-sides"),
        pytest.param("Australia               ", "AU", id="padded-fixed-width"),
        pytest.param("\tAustralia\n", "AU", id="padded-tab-newline"),
        pytest.param("New  Zealand", "NZ", id="double-inner-space"),
        pytest.param("New Zealand", "NZ", id="two-words"),
        pytest.param("NEW ZEALAND", "NZ", id="upper-case-name"),
    ],
)
def test_normalize_country_maps_label(label: str, expected: str) -> None:
    assert normalize_country(label) == expected


# Labels that start or end with f or v: only whitespace may be trimmed, never these
# letters.
@pytest.mark.parametrize(
    ("label", "expected"),
    [
        pytest.param("fiji", "FJ", id="fiji-lower"),
        pytest.param(" Fiji ", "FJ", id="fiji-padded"),
        pytest.param("France", "FR", id="france"),
        pytest.param("Slovakia ", "SK", id="slovakia-trailing-space"),
        pytest.param("Vanuatu\t", "VU", id="vanuatu-trailing-tab"),
        pytest.param(" Venezuela", "VE", id="venezuela-leading-space"),
        pytest.param("Vatican", "VA", id="vatican"),
    ],
)
def test_normalize_country_keeps_edge_letters(label: str, expected: str) -> None:
    assert normalize_country(label) == expected


@pytest.mark.parametrize(
    "label",
    [
        pytest.param("Korea", id="korea"),
        pytest.param("korea ", id="korea-lower-padded"),
        pytest.param("Congo", id="congo"),
        pytest.param("The Congo", id="the-congo"),
        pytest.param("America", id="america"),
        pytest.param("Virgin Islands", id="virgin-islands"),
        pytest.param("SU", id="babel-alias-soviet-union"),
        pytest.param("YU", id="babel-alias-yugoslavia"),
        pytest.param("NH", id="withdrawn-code-new-hampshire"),
        pytest.param("ZAR", id="withdrawn-code-rand"),
    ],
)
def test_normalize_country_ambiguous_is_none(label: str) -> None:
    assert normalize_country(label) is None


@pytest.mark.parametrize(
    "label",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("Narnia", id="fictional"),
        pytest.param("EU", id="european-union"),
        pytest.param("Europe", id="continent"),
        pytest.param("001", id="m49-world-code"),
        pytest.param("1000", id="four-digits"),
        pytest.param("XK", id="kosovo-user-assigned-code"),
    ],
)
def test_normalize_country_unknown_is_none(label: str | None) -> None:
    assert normalize_country(label) is None


def test_normalize_country_rejects_nan() -> None:
    with pytest.raises(TypeError, match=r"Invalid country label nan of type float"):
        normalize_country(float("nan"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "attribute",
    ["alpha_2", "alpha_3", "numeric", "name", "official_name", "common_name"],
)
def test_normalize_country_reads_every_pycountry_field(attribute: str) -> None:
    # pycountry calls CG "Congo", which is ambiguous with CD.
    mismatches = {}
    for country in pycountry.countries:
        label = getattr(country, attribute, None)
        if label is None or label == "Congo":
            continue
        for variant in (label, label.lower(), f"  {label}  "):
            if normalize_country(variant) != country.alpha_2:
                mismatches[variant] = normalize_country(variant)
    assert mismatches == {}


@pytest.mark.parametrize("locale", _NAME_LOCALES)
def test_normalize_country_reads_cldr_names(locale: str) -> None:
    # CLDR "es" calls CG "Congo", which is ambiguous with CD.
    mismatches = {}
    for code in sorted(ALPHA2_CODES):
        name = country_name(code, locale)
        if name == "Congo":
            continue
        if normalize_country(name) != code:
            mismatches[name] = (code, normalize_country(name))
    assert mismatches == {}


def test_normalize_country_maps_100k_labels_fast() -> None:
    # This loop took about 0.01 s on a 2-core Debian 12 machine with Python 3.11,
    # because each distinct label is folded once and then cached. The 1 s bound
    # leaves room for slow CI machines.
    labels = ["France", "fra", "  Australia ", "Deutschland", "USA", "Narnia"]
    labels = labels * (100_000 // len(labels) + 1)
    start = time.perf_counter()
    codes = [normalize_country(label) for label in labels]
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"mapping {len(labels)} labels took {elapsed:.2f} s"
    assert codes[:6] == ["FR", "FR", "AU", "DE", "US", None]


@pytest.mark.parametrize(
    ("code", "locale", "expected"),
    [
        pytest.param("FR", "en", "France", id="english-default"),
        pytest.param("us", "en", "United States", id="lower-case-code"),
        pytest.param("DE", "fr", "Allemagne", id="french"),
        pytest.param("GB", "de", "Vereinigtes Königreich", id="german"),
        pytest.param("US", "es", "Estados Unidos", id="spanish"),
        pytest.param("US", "pt-BR", "Estados Unidos", id="hyphenated-locale"),
        pytest.param("NL", "nl", "Nederland", id="dutch"),
        # CLDR "kl" (Greenlandic) has no name for AE: the English name is returned.
        pytest.param("AE", "kl", "United Arab Emirates", id="english-fallback"),
    ],
)
def test_country_name_in_locale(code: str, locale: str, expected: str) -> None:
    assert country_name(code, locale) == expected


def test_country_name_default_locale_is_english() -> None:
    assert country_name("JP") == "Japan"


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("XX", id="unassigned"),
        pytest.param("FRA", id="alpha3"),
        pytest.param("", id="empty"),
        pytest.param("XK", id="user-assigned"),
    ],
)
def test_country_name_rejects_unknown_code(code: str) -> None:
    with pytest.raises(InputError, match=r"Unknown ISO 3166-1 alpha-2 code"):
        country_name(code)


def test_country_name_error_is_value_error() -> None:
    with pytest.raises(ValueError, match=r"code 'XX'"):
        country_name("XX")


@pytest.mark.parametrize(
    "locale",
    [
        pytest.param("xx", id="unknown"),
        pytest.param("english", id="language-name"),
        pytest.param("", id="empty"),
    ],
)
def test_country_name_rejects_unknown_locale(locale: str) -> None:
    with pytest.raises(InputError, match=r"Unknown locale"):
        country_name("FR", locale)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param("FR", ("Europe", "Western Europe"), id="FR"),
        pytest.param("DE", ("Europe", "Western Europe"), id="DE"),
        pytest.param("GB", ("Europe", "Northern Europe"), id="GB"),
        pytest.param("US", ("Americas", "Northern America"), id="US"),
        pytest.param("CA", ("Americas", "Northern America"), id="CA"),
        pytest.param("BR", ("Americas", "Latin America and the Caribbean"), id="BR"),
        pytest.param("MX", ("Americas", "Latin America and the Caribbean"), id="MX"),
        pytest.param("AU", ("Oceania", "Australia and New Zealand"), id="AU"),
        pytest.param("NZ", ("Oceania", "Australia and New Zealand"), id="NZ"),
        pytest.param("CN", ("Asia", "Eastern Asia"), id="CN"),
        pytest.param("JP", ("Asia", "Eastern Asia"), id="JP"),
        pytest.param("IN", ("Asia", "Southern Asia"), id="IN"),
        pytest.param("ZA", ("Africa", "Sub-Saharan Africa"), id="ZA"),
        pytest.param("fr", ("Europe", "Western Europe"), id="lower-case-code"),
    ],
)
def test_region_of_country(code: str, expected: tuple[str, str]) -> None:
    assert region_of(code) == expected


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("AQ", id="antarctica"),
        pytest.param("TW", id="taiwan"),
        pytest.param("XX", id="unassigned"),
        pytest.param("FRA", id="alpha3"),
        pytest.param("", id="empty"),
    ],
)
def test_region_of_unplaced_is_none(code: str) -> None:
    assert region_of(code) is None


def read_m49_rows() -> list[dict[str, str]]:
    path = resources.files("revaxis") / "data" / "m49.csv"
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def test_m49_table_covers_pycountry() -> None:
    table_codes = {row["alpha2"] for row in read_m49_rows()}
    assert ALPHA2_CODES - CODES_WITHOUT_M49_REGION - table_codes == set()


def test_m49_table_has_only_pycountry_codes() -> None:
    table_codes = {row["alpha2"] for row in read_m49_rows()}
    assert table_codes - ALPHA2_CODES == set()


def test_m49_table_omits_unplaced_codes() -> None:
    table_codes = {row["alpha2"] for row in read_m49_rows()}
    assert table_codes & CODES_WITHOUT_M49_REGION == set()


def test_m49_table_has_one_row_per_code() -> None:
    counts = Counter(row["alpha2"] for row in read_m49_rows())
    assert {code: n for code, n in counts.items() if n > 1} == {}


def test_m49_table_uses_m49_region_names() -> None:
    regions = {row["region"] for row in read_m49_rows()}
    assert regions == M49_REGIONS


def test_m49_table_fills_every_subregion() -> None:
    empty = [row["alpha2"] for row in read_m49_rows() if not row["subregion"]]
    assert empty == []


# Members per sub-region as listed in Wikipedia's "UN M49" article (codes as of
# December 2021).
def test_m49_table_subregion_sizes() -> None:
    sizes = Counter(row["subregion"] for row in read_m49_rows())
    assert sizes == {
        "Northern America": 5,
        "Latin America and the Caribbean": 52,
        "Northern Europe": 16,
        "Western Europe": 9,
        "Eastern Europe": 10,
        "Southern Europe": 16,
        "Western Asia": 18,
        "Central Asia": 5,
        "Eastern Asia": 7,
        "Southern Asia": 9,
        "South-eastern Asia": 11,
        "Northern Africa": 7,
        "Sub-Saharan Africa": 53,
        "Australia and New Zealand": 6,
        "Melanesia": 5,
        "Micronesia": 8,
        "Polynesia": 10,
    }
