# panelbot's image: `panelbot serve` as a non-root user. The schema is migrated by its own one-shot
# command (`panelbot db upgrade`: the compose `migrate` service, the Kubernetes Job), never by serve.
# Checked by deploy/smoke.sh on a machine with a container engine; linted by hadolint in .ci/run.

# ---- build: a virtualenv with panelbot and its dependencies (all wheels: no compiler needed)
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/panelbot
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
RUN /opt/panelbot/bin/pip install --no-cache-dir . \
    && /opt/panelbot/bin/pip uninstall --yes pip setuptools wheel

# ---- run: the slim base, the virtualenv and the default app.yaml; no pip, no build tools
FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="panelbot" \
      org.opencontainers.image.description="A safeguarding children partnership's screening panel and Rapid Reviews in Slack and Teams"
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/panelbot --create-home --shell /usr/sbin/nologin panelbot
COPY --from=build /opt/panelbot /opt/panelbot
COPY app.yaml /etc/panelbot/app.yaml
ENV PATH=/opt/panelbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PANELBOT_CONFIG=/etc/panelbot/app.yaml \
    PANELBOT_LOG_FORMAT=json
WORKDIR /var/lib/panelbot
USER 10001:10001
EXPOSE 3978
# The process answers; readiness (database, schema, ticker, outbox) is /readyz, for the orchestrator.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3978/livez', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["panelbot", "serve", "--host", "0.0.0.0", "--port", "3978"]
