"""Scripts run on purpose, never by the test run: `python -m tools.NAME`."""
