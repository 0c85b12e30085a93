# syntax=docker/dockerfile:1.7
# One image, two roles: the API (`web`) or the Django-Q2 cluster (`worker`); see docker/entrypoint.sh.

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    STATIC_ROOT=/app/var/static \
    PORT=8000 \
    WEB_CONCURRENCY=2
RUN groupadd --system resee && useradd --system --gid resee --home-dir /app --shell /usr/sbin/nologin resee
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=resee:resee config ./config
COPY --chown=resee:resee modules ./modules
COPY --chown=resee:resee manage.py ./
COPY --chown=resee:resee --chmod=0755 docker/entrypoint.sh ./entrypoint.sh
RUN mkdir -p var/static var/transfers/exports var/transfers/imports && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput -v0 \
    && chown -R resee:resee var
USER resee
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8000\")}/api/health/live/', timeout=2)"
ENTRYPOINT ["./entrypoint.sh"]
CMD ["web"]
