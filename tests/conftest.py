from pathlib import Path

import pytest

from app import create_app
from testsupport.corpus import CORPUS
from testsupport.needs import require
from testsupport.browser import CHROMIUM, launch
from testsupport.servers import gunicorn

@pytest.fixture
def app():
    return create_app({"TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def corpus() -> Path:
    require(CORPUS.is_dir(), f"the photo corpus is missing at {CORPUS}", "../shared/corpus beside the project")
    return CORPUS


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real thing: gunicorn with the project's config, on 127.0.0.1. Yields its base URL."""
    with gunicorn(tmp_path_factory.mktemp("gunicorn") / "server.log") as (_, base):
        yield base


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium, headless, for every browser test; they fail in CI without it and skip elsewhere."""
    require(CHROMIUM.exists(), f"Debian's chromium is missing at {CHROMIUM}", "apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()
