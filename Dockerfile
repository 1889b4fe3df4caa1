# One image for every process of the deployment (web, worker, beat, the mocks); docker-compose.yml picks the
# command. Settings come from the environment only (README, "Settings").
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    STATIC_ROOT=/app/staticfiles STATIC_MANIFEST=true BEVAKA_VAR_DIR=/tmp/bevaka
WORKDIR /app
# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml ./
RUN mkdir -p bevaka && touch bevaka/__init__.py \
 && pip install --no-cache-dir . && pip uninstall -y bevaka
COPY . .
# Compiled catalogues (*.mo) are in the repository; static files are collected (hashed, compressed) here,
# and whitenoise serves them from the image.
RUN pip install --no-cache-dir --no-deps . \
 && DEBUG=false SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && mkdir -p /pki && chown nobody /pki
# /pki: the mock BankID's PKI, a volume shared by the mock and the app (docker-compose.yml), so that the app
# trusts the root the mock signs under.
USER nobody
EXPOSE 8000
# gunicorn reads WEB_CONCURRENCY for its worker count; one request log line per request comes from Django
# (bevaka.observability), with the request id, so gunicorn's own access log stays off.
CMD ["gunicorn", "bevaka.wsgi:application", "--bind", "0.0.0.0:8000", "--forwarded-allow-ips", "*"]
