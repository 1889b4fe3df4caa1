# One image for every process of the deployment (web, worker, beat, the mocks); docker-compose.yml picks the
# command. Settings come from the environment only (README, "Settings").
#
# The base image is an exact Python release. Pin its digest where Docker Hub is reachable (the machine this
# was written on reaches only PyPI and Debian): `bash scripts/pin-base-image.sh` rewrites the line below to
# python:3.11.N-slim-bookworm@sha256:…, and tests/ops/test_lock.py accepts either form.
ARG PYTHON_BASE=python:3.11.14-slim-bookworm
FROM ${PYTHON_BASE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    STATIC_ROOT=/app/staticfiles STATIC_MANIFEST=true BEVAKA_VAR_DIR=/tmp/bevaka
WORKDIR /app
# Dependencies first, so that a code change does not reinstall them: production's lock only (no test or
# development tool), every file checked against its hash.
COPY requirements/base.txt requirements/base.txt
RUN pip install --no-cache-dir --require-hashes -r requirements/base.txt
COPY . .
# Compiled catalogues (*.mo) are in the repository; static files are collected (hashed, compressed) here,
# and whitenoise serves them from the image.
RUN pip install --no-cache-dir --no-deps . \
 && DEBUG=false SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin bevaka \
 && mkdir -p /pki && chown 10001 /pki
# A user of its own, not root (and not `nobody`, which other services on a host may share).
# /pki: the mock BankID's PKI, a volume shared by the mock and the app (docker-compose.yml), so that the app
# trusts the root the mock signs under.
USER 10001
EXPOSE 8000
# gunicorn reads WEB_CONCURRENCY for its worker count; one request log line per request comes from Django
# (bevaka.observability), with the request id, so gunicorn's own access log stays off.
CMD ["gunicorn", "bevaka.wsgi:application", "--bind", "0.0.0.0:8000"]
