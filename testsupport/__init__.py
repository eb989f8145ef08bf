"""Support shared by the tests and the benchmarks: the photo corpus, small generated images, multipart
bodies, the real server (gunicorn) and the real browser (chromium driven by Playwright).

Neither tests/ nor bench/ is imported by the other: both import this package.
"""
