# bifrost-asgi, built from this checkout.
#   docker build -t bifrost-asgi .
#   docker run -p 8080:8080 -v $(pwd)/config.json:/app/config/config.json -e OPENAI_API_KEY -e ANTHROPIC_API_KEY bifrost-asgi
#   docker run -p 8080:8080 bifrost-asgi --demo          # offline, keyless mock provider
# It reads /app/config/config.json when one is mounted there (a file, or a Kubernetes config map at
# /app/config); without one, providers come from the vendor keys in the environment (OPENAI_API_KEY...).
# It listens on 0.0.0.0:8080; on SIGTERM (docker stop, Kubernetes) it stops accepting, lets in-flight
# requests and streams finish for client.shutdown_grace_seconds (default 30), then exits.

# --- build: install the package and its dependencies into a virtual environment -----------------
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/bifrost
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bifrost_asgi ./bifrost_asgi
RUN /opt/bifrost/bin/pip install .

# --- run: the virtual environment only, as an unprivileged user ----------------------------------
FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bifrost \
    && mkdir -p /app/config && chown -R bifrost:bifrost /app
COPY --from=build /opt/bifrost /opt/bifrost
ENV PATH=/opt/bifrost/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BIFROST_APP_DIR=/app/config \
    BIFROST_HOST=0.0.0.0 \
    BIFROST_PORT=8080
WORKDIR /app
USER bifrost
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('BIFROST_PORT', '8080'), timeout=2).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["bifrost-asgi"]
CMD []
