"""Both catalogs are complete, compiled and cover every string in the code and templates."""

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
LANGS = ("kk", "ru")


def _po(lang):
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    out = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "--no-location",
            "--ignore-dirs=.venv tests bench migrations",
            "-o",
            str(out),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with open(out, "rb") as f:
        return {m.id for m in read_po(f) if m.id}


@pytest.mark.parametrize("lang", LANGS)
def test_catalog_covers_every_string_and_is_translated(extracted, lang):
    catalog = _po(lang)
    ids = {m.id for m in catalog if m.id}
    assert extracted - ids == set(), "run pybabel extract/update: strings missing from the catalog"
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


@pytest.mark.parametrize("lang", LANGS)
def test_compiled_catalog_matches_the_po_file(lang):
    with open(ROOT / "translations" / lang / "LC_MESSAGES" / "messages.mo", "rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    source = {m.id: m.string for m in _po(lang) if m.id}
    assert compiled == source, "run pybabel compile -d translations"


@pytest.mark.parametrize("lang", LANGS)
def test_placeholders_survive_translation(lang):
    import re

    for m in _po(lang):
        if m.id:
            assert sorted(re.findall(r"%\(\w+\)\w", m.id)) == sorted(re.findall(r"%\(\w+\)\w", m.string)), m.id


def test_pages_speak_the_chosen_language(app, client):
    from tests.factories import create_announcement

    with app.app_context():
        create_announcement(status="published")
    kk = client.get("/?lang=kk").get_data(as_text=True)
    ru = client.get("/?lang=ru").get_data(as_text=True)
    assert "Өшірулер, жөндеулер және хабарландырулар" in kk and "Жоспарлы өшіру" in kk
    assert "Отключения, ремонты и объявления" in ru and "Плановое отключение" in ru
    assert "Судың өшірілуі" in kk and "Отключение воды" in ru
    assert "Әл-Фараби" in kk and "Аль-Фарабийский" in ru
    login_kk = client.get("/staff/login?lang=kk").get_data(as_text=True)
    assert "Құпиясөз" in login_kk
