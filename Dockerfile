# tlh daemon image. Build: docker build -t tlh .   Run: see docker-compose.yml
#
# The base is pinned by digest: the multi-platform index of python:3.12-slim-bookworm (Python
# 3.12.14, Debian 12, built 2026-08-25), as recorded by the official images' own repo-info
# (github.com/docker-library/repo-info, repos/python/remote/3.12-slim-bookworm.md). To move to a
# newer build, read the current digest with
#   docker buildx imagetools inspect python:3.12-slim-bookworm
# and replace it in both FROM lines; if the Python minor version changes, change IMAGE_PYTHON in
# the Makefile to match and run `make lock` (tests/deploy checks that the two agree).
FROM python:3.12-slim-bookworm@sha256:0f5b26b9518d002b6173fd61daad821fa340635ebfec5bba471013f9ca114579 AS build
WORKDIR /opt/tlh
COPY requirements/runtime.lock requirements/build.lock requirements/
# The runtime dependencies only (not the dev lock), every file checked against its hash; the
# build backend goes to a throwaway venv that never reaches the final image.
RUN python -m venv .venv \
 && .venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.lock \
 && python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/build.lock
COPY pyproject.toml README.md ./
COPY ledger/ ledger/
COPY strategies/ strategies/
COPY adapters/ adapters/
COPY daemon/ daemon/
COPY migrations/ migrations/
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation -w /opt/dist . \
 && .venv/bin/pip install --no-cache-dir --no-deps /opt/dist/tlh-*.whl \
 && .venv/bin/python -m compileall -q .venv

FROM python:3.12-slim-bookworm@sha256:0f5b26b9518d002b6173fd61daad821fa340635ebfec5bba471013f9ca114579
RUN useradd --system --uid 10001 --home-dir /data tlh && install -d -o tlh -g tlh -m 0700 /data
COPY --from=build /opt/tlh/.venv /opt/tlh/.venv
# The working directory is the data volume, so the default database (./tlh.sqlite) lands there;
# it is not set here so that a secret file TLH_DATABASE__URL (e.g. PostgreSQL) can replace it.
ENV PATH=/opt/tlh/.venv/bin:$PATH \
    TLH_HEALTH_FILE=/data/health \
    TLH_LOGGING__FORMAT=json \
    PYTHONUNBUFFERED=1
USER tlh
WORKDIR /data
VOLUME ["/data"]
# Alive while the engine keeps consuming events: GET /healthz (issue #10 §2) when [metrics] is
# enabled, on port TLH_METRICS__PORT when set, else 9877 (a port set in tlh.toml only is not
# seen here: set the variable too); when nothing listens there (metrics off), the engine's
# heartbeat file (touched every 30 s) instead. Any other failure, a timeout or a non-2xx answer, is unhealthy.
# Python, because the slim image has no curl.
HEALTHCHECK --interval=60s --timeout=10s --start-period=5m --retries=3 \
  CMD ["python", "-c", "import os, sys, time, urllib.error, urllib.request\nport = os.environ.get('TLH_METRICS__PORT') or '9877'\ntry:\n    urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=5)\nexcept urllib.error.URLError as e:\n    if not isinstance(getattr(e, 'reason', None), ConnectionRefusedError):\n        sys.exit(f'unhealthy: {e}')\n    sys.exit(time.time() - os.path.getmtime('/data/health') > 120)\n"]
ENTRYPOINT ["tlh"]
CMD ["run", "--config", "/config/tlh.toml"]
