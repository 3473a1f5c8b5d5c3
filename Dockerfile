# chatsite as a container image, from the same pinned install as ./dev (pyproject.toml).
#   docker build -t chatsite .
#   docker run --rm -v chatsite:/var/lib/chatsite chatsite python manage.py migrate
#   docker run -d -p 8000:8000 -v chatsite:/var/lib/chatsite --env-file chatsite.env chatsite
# Settings come from the environment (README.md); DATA_DIR is the volume. The bundled demo
# model is not in the image: point it at a provider (OPENAI_BASE_URL or the admin).
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/var/lib/chatsite \
    LOCAL_MODEL=0

RUN groupadd --system --gid 10001 chatsite \
    && useradd --system --uid 10001 --gid chatsite --home-dir /opt/chatsite --no-create-home chatsite \
    && mkdir -p /opt/chatsite /var/lib/chatsite \
    && chown chatsite:chatsite /var/lib/chatsite

WORKDIR /opt/chatsite
COPY pyproject.toml manage.py ./
COPY chatsite ./chatsite
RUN pip install -e .  # editable, as ./dev installs it: the code, templates and static files stay here
COPY templates ./templates
COPY static ./static
COPY locale ./locale
# The message files compiled (gettext's msgfmt, needed for this step only).
RUN apt-get update && apt-get install -y --no-install-recommends gettext=0.21-12 \
    && DATA_DIR=/tmp/build SECRET_KEY=build-only python manage.py compilemessages \
    && apt-get purge -y gettext && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
# Static files are collected at build time (their hashed names go with this image's code);
# the build's throwaway key is not the site's (set SECRET_KEY when running).
RUN DATA_DIR=/tmp/build SECRET_KEY=build-only STATIC_ROOT=/opt/chatsite/static-collected \
        python manage.py collectstatic --noinput \
    && rm -rf /tmp/build

USER 10001:10001
ENV STATIC_ROOT=/opt/chatsite/static-collected
VOLUME ["/var/lib/chatsite"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "chatsite.asgi:application"]
