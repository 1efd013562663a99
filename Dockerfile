# tlh daemon image. Build: docker build -t tlh .   Run: see docker-compose.yml
FROM python:3.12-slim AS build
WORKDIR /opt/tlh
COPY requirements/ requirements/
RUN python -m venv .venv \
 && .venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/dev.lock
COPY pyproject.toml README.md ./
COPY ledger/ ledger/
COPY strategies/ strategies/
COPY adapters/ adapters/
COPY daemon/ daemon/
COPY migrations/ migrations/
RUN .venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
 && .venv/bin/python -m compileall -q .venv

FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /data tlh
COPY --from=build /opt/tlh/.venv /opt/tlh/.venv
ENV PATH=/opt/tlh/.venv/bin:$PATH \
    TLH_DATABASE__URL=sqlite+aiosqlite:////data/tlh.sqlite \
    TLH_HEALTH_FILE=/data/health \
    TLH_LOGGING__FORMAT=json \
    PYTHONUNBUFFERED=1
USER tlh
WORKDIR /data
VOLUME ["/data"]
# Healthy while the engine keeps consuming events (the file is touched every 30 s).
HEALTHCHECK --interval=60s --timeout=5s --start-period=5m --retries=3 \
  CMD python -c "import os,sys,time; sys.exit(time.time()-os.path.getmtime('/data/health')>120)"
ENTRYPOINT ["tlh"]
CMD ["run", "--config", "/config/tlh.toml"]
