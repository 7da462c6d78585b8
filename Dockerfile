# syntax=docker/dockerfile:1
# The ozon-sync container image: `ozon-sync run` as a non-root user, root filesystem read-only,
# the state database on a volume at /var/lib/ozon-sync (deploy/kubernetes/ uses it this way).
#
#   docker build -t ozon-sync:0.1.0 .
#   docker run --read-only --tmpfs /tmp -v ozon-sync-data:/var/lib/ozon-sync \
#     -v "$PWD/config.toml:/etc/ozon-sync/config.toml:ro" \
#     -v "$PWD/keys:/run/secrets/ozon-sync:ro" ozon-sync:0.1.0
#
# The config goes to /etc/ozon-sync/config.toml, keys as files (`api_key_file`) under a
# read-only mount, and `[daemon] database` unset (the image sets STATE_DIRECTORY, so the
# database is /var/lib/ozon-sync/ozon-sync.db, or ozon-sync-N.db for shard N). Any other
# command works too: `docker run ... ozon-sync:0.1.0 status`.

FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY daemon ./daemon
# Everything ozon-sync needs, in a venv copied whole into the runtime image; bytecode compiled
# here, since the runtime's root filesystem is read-only.
RUN python -m venv /opt/ozon-sync \
    && /opt/ozon-sync/bin/pip install . \
    && /opt/ozon-sync/bin/python -m compileall -q /opt/ozon-sync

FROM python:3.12-slim-bookworm
# A fixed uid/gid (no login, no home), so volumes and Kubernetes' runAsUser/fsGroup can name it.
RUN groupadd --system --gid 10001 ozon-sync \
    && useradd --system --uid 10001 --gid ozon-sync --no-create-home \
       --home-dir /var/lib/ozon-sync --shell /usr/sbin/nologin ozon-sync \
    && install -d -o ozon-sync -g ozon-sync -m 0750 /var/lib/ozon-sync \
    && install -d -m 0755 /etc/ozon-sync
COPY --from=build /opt/ozon-sync /opt/ozon-sync
ENV PATH=/opt/ozon-sync/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OZON_SYNC_CONFIG=/etc/ozon-sync/config.toml \
    STATE_DIRECTORY=/var/lib/ozon-sync
VOLUME ["/var/lib/ozon-sync"]
WORKDIR /var/lib/ozon-sync
USER 10001:10001
# /healthz and /metrics when `[health] listen = "0.0.0.0:9464"`.
EXPOSE 9464
ENTRYPOINT ["ozon-sync"]
CMD ["run"]
