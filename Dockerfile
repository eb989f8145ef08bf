# kmeans-filter: docker build -t kmeans-filter . && docker run -p 8000:8000 kmeans-filter
# Only wheels are installed, so the image needs no compiler; tests/test_deploy.py lints this
# file with hadolint and runs its CMD, ENV and HEALTHCHECK against the app, and
# tests/test_container.py builds and runs it in a real Docker engine (CI's deploy stage).
FROM python:3.11.14-slim-bookworm

# MALLOC_ARENA_MAX: fewer glibc arenas for the threaded workers, measured 350 -> 260 MB in a load run.
# MALLOC_MMAP_THRESHOLD_: arrays of 1 MB and more are mapped and unmapped, never left in an arena,
# so a worker's memory goes back down after each photo and the memory budget (MEMORY_MB) holds.
# HOME: the app's user has no home of its own; /tmp exists, also under --read-only --tmpfs /tmp.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=1048576 \
    HOME=/tmp \
    HOST=0.0.0.0 \
    PORT=8000

# The app runs as this user and group, not root; it owns no file in the image.
RUN groupadd --gid 10001 kmeans \
    && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin kmeans

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt ./
RUN pip install --no-cache-dir --only-binary=:all: -r requirements.txt

COPY gunicorn.conf.py ./
COPY app/ app/
COPY templates/ templates/
COPY static/ static/

USER 10001:10001
EXPOSE 8000

# Slim images have no curl: ask the app with Python itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

# Checks every setting (a bad one is named in one line), then becomes gunicorn -c gunicorn.conf.py.
# docker stop: gunicorn finishes the requests in flight within GRACEFUL_TIMEOUT (8 s), inside Docker's 10 s.
CMD ["python", "-m", "app.serve"]
