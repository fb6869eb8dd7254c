# kuberay-api image: `docker build -t kuberay-api:0.1.0 .` (the chart's default image).
# Nothing is configured here: the server reads KUBERAY_API_* at start (README "Deploy").

# Stage 1: install the pinned runtime dependencies into a virtual environment.
# Every dependency ships wheels, so no compiler is needed, and none reaches the final image.
FROM python:3.11.14-slim-bookworm AS build
RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt

# Stage 2: the runtime: the same base, the environment, the code and the OpenAPI document
# (the Swagger UI ships in the swagger-ui-bundle package inside /opt/venv).
FROM python:3.11.14-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric user, so that Kubernetes can check runAsNonRoot (the chart runs it as 10001).
RUN groupadd --system --gid 10001 kuberay \
    && useradd --system --uid 10001 --gid kuberay --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin kuberay
WORKDIR /srv/kuberay-api
COPY --from=build /opt/venv /opt/venv
COPY app/ app/
COPY handlers/ handlers/
COPY openapi/ openapi/
COPY wsgi.py gunicorn.conf.py ./
# Compiled now: the root filesystem is read-only at run time.
RUN python -m compileall -q app handlers wsgi.py gunicorn.conf.py
USER 10001:10001
EXPOSE 8888 8887
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('KUBERAY_API_PORT', '8888'), timeout=4)"]
# Each worker serves HTTP (8888) and gRPC (8887); on SIGTERM gunicorn asks them to finish the
# requests and RPCs in flight (gunicorn.conf.py).
CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
