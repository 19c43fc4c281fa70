# syntax=docker/dockerfile:1
# The gateway's image: `docker build -t llmgateway:0.1.0 .` (podman and buildah build it the same).
# Two stages: the build stage installs uv (from PyPI, by hash) and syncs exactly what uv.lock pins
# into a virtualenv; the runtime stage is the slim base, that virtualenv and a non-root user,
# without uv, pip, a compiler or the sources. deploy/README.md ("Image") says how to run it.
#
# PYTHON_IMAGE: any Debian-based image with python3 (>= 3.11) and its venv module; both stages must
# use the same one (the virtualenv links to its interpreter). Offline builds pass a locally made
# base (`make image` builds one with debootstrap when this one cannot be pulled).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/llmgateway
WORKDIR /src
# uv exactly as `make install` gets it: pip, --require-hashes, the pinned release.
COPY toolchain/uv-requirements.txt toolchain/
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
      -r toolchain/uv-requirements.txt
# The dependencies first, in a layer of their own that stays cached until uv.lock changes.
# --locked fails when a pyproject.toml and uv.lock disagree; --no-dev leaves the test tools out.
COPY pyproject.toml uv.lock README.md ./
COPY clients/python/pyproject.toml clients/python/README.md clients/python/
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --locked --no-dev --no-install-workspace
# Then the gateway and the client stubs, installed as wheels (not editable: /src stays behind).
COPY clients/python/src clients/python/src
COPY server server
RUN --mount=type=cache,target=/root/.cache/uv \
    /opt/uv/bin/uv sync --locked --no-dev --no-editable \
 && /opt/llmgateway/bin/llmgateway version

FROM ${PYTHON_IMAGE}
# A fixed uid/gid, the one deploy/helm and deploy/kubernetes run as (runAsUser: 10001).
RUN groupadd --system --gid 10001 llmgateway \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin llmgateway \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/llmgateway
COPY --from=build /opt/llmgateway /opt/llmgateway
COPY deploy/docker/healthcheck.py /opt/llmgateway/healthcheck.py
# LLMGW_STATE_DIR: where the spend ledger's SQLite file and spool go unless the config says
# otherwise (the user has no home, and a mounted config's folder is read-only). Mount a volume
# there to keep them.
ENV PATH=/opt/llmgateway/bin:$PATH \
    LLMGW_STATE_DIR=/var/lib/llmgateway \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
# gRPC, the HTTP doors (OpenAI/Anthropic APIs, /health/*), Prometheus /metrics.
EXPOSE 50051 8080 9464
# For docker and podman; Kubernetes ignores it and uses the chart's native gRPC probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "/opt/llmgateway/healthcheck.py"]
# Exec form: the gateway is PID 1 and gets SIGTERM itself (it drains, then exits 0); it installs its
# own handlers, so the kernel's PID 1 rule (no default action for SIGTERM) does not swallow it.
ENTRYPOINT ["llmgateway"]
CMD ["serve"]
