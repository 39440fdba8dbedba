# syntax=docker/dockerfile:1
# The demo-app image: the Flask app under gunicorn (the production config module), as UID/GID
# 1000, ready for a read-only root filesystem. Build and push with `make image`.
#
# Both stages start from one pinned base, so the virtualenv built in the first one runs unchanged
# in the second (its interpreter symlink points at the same /usr/local/bin/python3.11).
FROM python:3.11.14-slim-bookworm AS base

# --- builder: install the pinned dependencies and the app into /opt/venv ------------------------
FROM base AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
# Every runtime dependency has a wheel for CPython 3.11 on linux/amd64 and linux/arm64, so no
# compiler is needed here either. pyproject.toml pins the direct ones; constraints.txt pins their
# whole closure (Werkzeug, Jinja2, ...), the same versions .venv and the tests run with.
COPY pyproject.toml constraints.txt ./
COPY app ./app
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --constraint constraints.txt . \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

# --- runtime --------------------------------------------------------------------------------------
FROM base AS runtime

# PYTHONDONTWRITEBYTECODE: the root filesystem is read-only; pip compiled the bytecode already.
# PROMETHEUS_MULTIPROC_DIR: a volume in Kubernetes (k8s/demo-app-deployment.yaml); the directory
# below serves `docker run` without one.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=5000 \
    PROMETHEUS_MULTIPROC_DIR=/var/run/demo-app/metrics

RUN groupadd --gid 1000 app \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app \
    && install --directory --owner 1000 --group 1000 --mode 0700 /var/run/demo-app/metrics

COPY --from=builder /opt/venv /opt/venv

USER 1000:1000
EXPOSE 5000

# Kubernetes ignores HEALTHCHECK (it uses the Deployment's probes); this serves `docker run`.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '5000') + '/healthz', timeout=2)"]

# The production server: the same command as `make serve`.
CMD ["gunicorn", "--config", "python:app.gunicorn_conf"]
