# deploy/: the Helm chart's tools, and the container image (Dockerfile).
# helm comes from the Go module proxy (go install verifies it against go.sum and the checksum
# database) into $(GOBIN), like grpcurl; deploy/check.py (make check-deploy, in make test) lints and
# renders the chart with it and validates every manifest offline (kubernetes-validate, uv.lock).
HELM_VERSION := v4.3.2
HELM         := $(GOBIN)/helm
IMAGE        ?= localhost/llmgateway:dev
IMAGE_BASE   ?= localhost/llmgateway-base:bookworm

.PHONY: tools-helm image image-base check-image

$(HELM):
	go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

tools-helm: $(HELM)  ## helm (go install, pinned) into $(GOBIN)

check-deploy: $(HELM)

# The image, built here with buildah (no Docker engine; podman and buildah are Debian packages).
# No container registry is reachable, so the base is made with debootstrap (deploy/docker/base-image.sh)
# the first time and kept in podman's storage; elsewhere `docker build .` uses python:3.11-slim.
# --format docker keeps the HEALTHCHECK (the OCI format has none); --isolation chroot runs the RUN
# steps without an OCI runtime, which this machine's cgroup setup refuses.
CONTAINER_TOOLS := /usr/bin/buildah /usr/bin/podman /usr/sbin/debootstrap /usr/sbin/runc
$(CONTAINER_TOOLS):
	apt-get update && apt-get install -y podman buildah debootstrap runc

image-base: | $(CONTAINER_TOOLS)  ## the Dockerfile's base, made with debootstrap, when podman does not have it yet
	podman image exists $(IMAGE_BASE) || deploy/docker/base-image.sh $(IMAGE_BASE)

image: image-base  ## build the gateway's image (IMAGE, default localhost/llmgateway:dev) with buildah
	buildah bud --quiet --format docker --isolation chroot --layers \
	  --build-arg PYTHON_IMAGE=$(IMAGE_BASE) -t $(IMAGE) .

check-image: install image  ## build the image, then run it: non-root, HEALTHCHECK, SIGTERM as PID 1 (tests/test_deploy_image.py)
	LLMGW_TEST_IMAGE=$(IMAGE) $(VENV)/bin/pytest -q -p no:xdist tests/test_deploy_image.py
