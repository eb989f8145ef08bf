import re
from pathlib import Path

import pytest

from app import settings

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_table() -> dict[str, tuple[str, str]]:
    """The configuration table in the README: name -> (default, help)."""
    text = README.read_text()
    section = re.search(r"<!-- section:configuration -->(.*?)<!-- /section:configuration -->", text, re.DOTALL)
    assert section, "the README has no configuration section"
    rows = {}
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) == 3 and re.fullmatch(r"`[A-Z0-9_]+`", cells[0]):
            assert cells[0] not in rows, f"{cells[0]} is in the table twice"
            rows[cells[0].strip("`")] = (cells[1].strip("`"), cells[2])
    return rows


def test_every_setting_is_in_the_readme_table_with_its_default_and_help():
    table = readme_table()
    missing = [s.name for s in settings.SETTINGS if s.name not in table]
    assert not missing, f"add these to the README's configuration table (python -m app.settings): {missing}"
    unknown = sorted(set(table) - {s.name for s in settings.SETTINGS})
    assert not unknown, f"the README lists settings that do not exist: {unknown}"
    for setting in settings.SETTINGS:
        assert table[setting.name] == (str(setting.default), setting.help), setting.name


def test_the_generated_table_is_the_readme_table():
    assert settings.markdown_table() in README.read_text()


def test_every_setting_has_a_default_of_its_kind_and_a_line_of_help():
    for setting in settings.SETTINGS:
        assert setting.help.strip() and "\n" not in setting.help and "|" not in setting.help, setting.name
        assert isinstance(setting.default, (int, str)) and not isinstance(setting.default, bool), setting.name
        if setting.choices:
            assert setting.default in setting.choices, setting.name
    assert settings.load({}) == {s.name: s.default for s in settings.SETTINGS}


def test_values_are_read_from_the_environment():
    values = settings.load({"PORT": " 9000 ", "THREADS": "8", "LOG_LEVEL": "WARNING", "HOST": "0.0.0.0",
                            "CACHE_MB": "0", "DEFAULT_K": "", "MAX_K": "32"})
    assert (values["PORT"], values["THREADS"], values["LOG_LEVEL"]) == (9000, 8, "warning")
    assert (values["HOST"], values["CACHE_MB"], values["MAX_K"]) == ("0.0.0.0", 0, 32)
    assert values["DEFAULT_K"] == 16  # empty means the default


def test_get_reads_one_setting(monkeypatch):
    monkeypatch.setenv("MAX_PIXELS", "1234")
    assert settings.get("MAX_PIXELS") == 1234


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"PORT": "eighty"}, "PORT must be a whole number, got 'eighty'"),
        ({"PORT": "1.5"}, "PORT must be a whole number, got '1.5'"),
        ({"PORT": "70000"}, "PORT must be between 1 and 65535, got '70000'"),
        ({"THREADS": "0"}, "THREADS must be at least 1, got '0'"),
        ({"CACHE_MB": "-1"}, "CACHE_MB must be at least 0, got '-1'"),
        ({"MAX_UPLOAD_MB": "0"}, "MAX_UPLOAD_MB must be at least 1, got '0'"),
        ({"MAX_K": "300"}, "MAX_K must be between 2 and 256, got '300'"),
        ({"MAX_K": "8", "DEFAULT_K": "16"}, "DEFAULT_K must be between 2 and MAX_K (8), got 16"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of debug, info, warning, error, critical, got 'loud'"),
    ],
)
def test_a_bad_value_gives_a_message_naming_it(environ, message):
    with pytest.raises(ValueError) as raised:
        settings.load(environ)
    assert str(raised.value) == message
