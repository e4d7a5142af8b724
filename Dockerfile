# The App's image: `wheelwatch serve` by default, `wheelwatch worker` with another command
# (compose.yaml runs both beside Redis). Settings come from the environment (docs/app.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080

WORKDIR /app
# Only what the package needs: no tests, no benches, no git history (see .dockerignore).
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
# setuptools leaves build/ and the egg-info in the source tree: a second copy of the package.
RUN pip install . \
    && rm -rf build wheelwatch.egg-info \
    && groupadd --system --gid 10001 wheelwatch \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin \
        wheelwatch

# Nothing runs as root; the code is owned by root and read-only to the App. Numeric, because
# Kubernetes' runAsNonRoot can only verify a numeric user (a name fails the pod's start).
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]
CMD ["wheelwatch", "serve"]
