#!/usr/bin/env bash
# Make the Dockerfile's base image where python:3.11-slim-bookworm cannot be pulled (no container
# registry is reachable here): Debian bookworm (minbase, from Debian's own packages) with python3
# and its venv module, the same Python 3.11 the slim image has, imported into podman's storage.
#   deploy/docker/base-image.sh [NAME]      (default localhost/llmgateway-base:bookworm; needs root)
# The machine's extra certificate authorities (a TLS-inspecting proxy's, in
# /usr/local/share/ca-certificates) are added, and pip and uv are pointed at the system bundle, so
# the build stage reaches PyPI exactly as the host does; an image built from the official base has
# neither.
set -euo pipefail
name=${1:-localhost/llmgateway-base:bookworm}
rootfs=$(mktemp -d /var/tmp/llmgateway-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" >/dev/null
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi
# Slim, as the official slim images are: no package lists, caches, docs or man pages.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
bundle=/etc/ssl/certs/ca-certificates.crt
tar -C "$rootfs" -c . | podman import --quiet \
  --change "ENV SSL_CERT_FILE=$bundle" --change "ENV PIP_CERT=$bundle" --change 'CMD ["python3"]' \
  - "$name" >/dev/null
echo "base image $name: $(podman run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
  --runtime runc "$name" python3 --version)"
