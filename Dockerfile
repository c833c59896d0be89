# gitpod-requirements-exporter: one image for both roles.
#   docker build -t gitpod-requirements-exporter .
# Runs as a non-root user by default (the cluster role); the node DaemonSet overrides this
# with a privileged security context, as the Helm chart's DaemonSet does.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# Wheels for the package and every runtime dependency; nothing of this stage ships.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="gitpod-requirements-exporter" \
      org.opencontainers.image.description="Prometheus exporter that watches Gitpod's self-hosted requirements" \
      org.opencontainers.image.source="https://github.com/gitpod-io/gitpod-requirements-exporter" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels "gitpod-requirements-exporter==${VERSION}" \
    && rm -rf /wheels
USER 65532:65532
EXPOSE 18110
ENTRYPOINT ["gitpod-requirements-exporter"]
CMD ["serve"]
