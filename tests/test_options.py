"""The option table (app/options.py) and everything derived from it: form parsing, CLI, OpenAPI, page."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from app import cleaning, cli, create_app, imaging, options, paint_by_number, palettes, pipeline, quantize, settings

APP = Path(__file__).resolve().parents[1] / "app"
CONFIG = settings.load({})
TABLE = [options.K, options.COLOR_SPACE, options.DITHER, options.METHOD, options.IMAGE_FORMAT, options.MAX_SIDE,
         options.KS, options.TILE_SIDE, options.PALETTE_FORMAT, options.LADDER_KS, options.BACKGROUND, options.DELTA_E,
         options.THEN, options.MIN_REGION, options.TEMPLATE_MIN_REGION, options.TEMPLATE_MIN_FONT, options.TEMPLATE_FORMAT]


def test_the_table_lists_every_option_of_every_endpoint():
    listed = {id(option) for endpoint in options.ENDPOINTS.values() for option in endpoint}
    assert listed == {id(option) for option in TABLE}
    for option in TABLE:
        assert option.help.strip(), option.name
        if option.kind == "choice":
            assert option.default_in(CONFIG) in option.choices
            assert not option.labels or len(option.labels) == len(option.choices)
        else:
            low, high = option.bounds(CONFIG)
            assert low is not None and high is not None and low <= high, option.name


def test_the_choices_are_those_the_engine_knows():
    assert options.COLOR_SPACE.choices == quantize.COLOR_SPACES
    assert options.DITHER.choices == pipeline.DITHERS
    assert options.METHOD.choices == pipeline.METHODS
    assert options.IMAGE_FORMAT.choices == imaging.FORMATS
    assert options.PALETTE_FORMAT.choices == palettes.FORMATS
    assert options.TEMPLATE_FORMAT.choices == paint_by_number.FORMATS
    assert options.MIN_REGION.bounds(CONFIG) == (0, cleaning.MAX_MIN_REGION)
    assert options.TEMPLATE_MIN_REGION.default_in(CONFIG) == paint_by_number.DEFAULT_MIN_REGION
    assert options.TEMPLATE_MIN_FONT.default_in(CONFIG) == paint_by_number.READABLE_FONT


def test_bounds_and_defaults_follow_the_live_settings():
    config = {**CONFIG, "MAX_K": 40, "DEFAULT_K": 7}
    assert options.K.bounds(config) == (2, 40) and options.K.default_in(config) == 7
    assert options.K.parse(None, config) == 7 and options.K.parse(" 40 ", config) == 40
    with pytest.raises(options.OptionError, match="k must be between 2 and 40, got 41"):
        options.K.parse("41", config)
    with pytest.raises(options.OptionError, match="between 2 and 40, got 41"):
        options.KS.parse("2,41", config)


@pytest.mark.parametrize(
    "option, raw, value",
    [(options.COLOR_SPACE, "OKLab", "oklab"), (options.COLOR_SPACE, "", "rgb"), (options.IMAGE_FORMAT, "jpg", "jpeg"),
     (options.MAX_SIDE, None, None), (options.MAX_SIDE, "16", 16), (options.TILE_SIDE, None, 640),
     (options.KS, None, (2, 5, 10, 15, 24)), (options.KS, " 8, 4 ", (8, 4))],
)
def test_parse(option, raw, value):
    assert option.parse(raw, CONFIG) == value


@pytest.mark.parametrize(
    "option, raw, words",
    [(options.K, "", "k must be a whole number between 2 and 256, got ''"),
     (options.K, "1e3", "got '1e3'"), (options.MAX_SIDE, "100001", "max_side must be between 16 and 100000"),
     (options.DITHER, "ordered", "dither must be one of none, floyd-steinberg, got 'ordered'"),
     (options.KS, "4,4", "ks lists 4 twice")],
)
def test_a_bad_value_is_refused_naming_option_and_value(option, raw, words):
    with pytest.raises(options.OptionError, match=words) as info:
        option.parse(raw, CONFIG)
    assert info.value.name == option.name


def test_each_field_is_parsed_once_per_request(monkeypatch):
    calls = []
    original = options.Option.parse

    def counting(self, raw, config):
        calls.append(self.name)
        return original(self, raw, config)

    monkeypatch.setattr(options.Option, "parse", counting)
    client = create_app({"TESTING": True}).test_client()
    from testsupport.forms import client_multipart
    from testsupport.images import png_bytes

    response = client.post("/api/quantize", **client_multipart(("image", ("x.png", png_bytes())), ("k", "4")))
    assert response.status_code == 200
    assert sorted(calls) == sorted(option.name for option in options.ENDPOINTS["/api/quantize"])


def test_the_cli_arguments_come_from_the_table(monkeypatch):
    monkeypatch.setenv("MAX_K", "99")
    args = cli.parse_args(["photo.png"])
    assert args.k == [options.K.default_in(settings.load())]
    assert (args.format, args.color_space, args.dither, args.method) == ("png", "rgb", "none", "kmeans")
    with pytest.raises(SystemExit):
        cli.parse_args(["photo.png", "-k", "100"])  # MAX_K is live here too
    assert cli.parse_args(["photo.png", "--contact-sheet", "s.png", "--ks", "2,99"]).ks == (2, 99)


def test_the_cli_help_gives_each_option_its_help_and_default(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in (options.COLOR_SPACE, options.DITHER, options.METHOD, options.IMAGE_FORMAT):
        assert " ".join(option.help.split()) in text and f"(default: {option.default})" in text
    assert "(default: 2,5,10,15,24)" in text


def test_the_page_controls_come_from_the_table():
    client = create_app({"TESTING": True, "MAX_K": 100, "SLIDER_MAX_K": 32, "DEFAULT_K": 8}).test_client()
    page = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    for select, option in (("#color-space", options.COLOR_SPACE), ("#dither", options.DITHER)):
        shown = [(o["value"], o.get_text()) for o in page.select(f"select{select} option")]
        assert shown == option.page_choices()
    low = str(options.K.low)
    assert (page.select_one("input#k")["min"], page.select_one("input#k-slider")["min"]) == (low, low)
    assert page.select_one("input#contact-ks")["value"] == "2,5,10,15,24"


def test_the_openapi_fields_come_from_the_table(client, app):
    document = client.get("/api/openapi.json").get_json()
    for path, endpoint_options in options.ENDPOINTS.items():
        properties = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"][
            "properties"]
        assert set(properties) == {"image", "image_id", *(option.name for option in endpoint_options)}
        for option in endpoint_options:
            assert properties[option.name] == option.schema(app.config)


# --- layering -------------------------------------------------------------------------------------------------------

BLUEPRINTS = {"api", "explore", "web"}


def imported_app_modules(name: str) -> set[str]:
    tree = ast.parse((APP / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "app":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("app."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("app.")}
    return found


@pytest.mark.parametrize("blueprint", sorted(BLUEPRINTS))
def test_blueprints_never_import_each_other(blueprint):
    assert imported_app_modules(blueprint) & BLUEPRINTS == set()


@pytest.mark.parametrize("module", ["options", "results", "filenames", "pipeline", "quantize", "sheet", "cli"])
def test_only_http_modules_import_flask(module):
    source = (APP / f"{module}.py").read_text()
    assert "flask" not in {node.names[0].name.split(".")[0] for node in ast.walk(ast.parse(source))
                           if isinstance(node, ast.Import)}
    assert not any(isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flask")
                   for node in ast.walk(ast.parse(source)))
