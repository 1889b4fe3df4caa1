#!/usr/bin/env bash
# Pin the Dockerfile's base image by digest: ARG PYTHON_BASE=python:3.11.N-slim-bookworm becomes
# python:3.11.N-slim-bookworm@sha256:<the multi-platform index's digest>. Needs Docker Hub and one of
# `docker buildx` or `skopeo`; run it on a machine that has them, then commit the Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=$(sed -n 's/^ARG PYTHON_BASE=\([^@]*\).*/\1/p' Dockerfile)
if command -v docker >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1; then
  digest=$(docker buildx imagetools inspect "$tag" --format '{{json .Manifest}}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')
elif command -v skopeo >/dev/null 2>&1; then
  digest=$(skopeo inspect --raw "docker://docker.io/library/$tag" | sha256sum | sed 's/ .*//;s/^/sha256:/')
else
  echo "pin-base-image: needs docker buildx or skopeo" >&2
  exit 1
fi
sed -i "s|^ARG PYTHON_BASE=.*|ARG PYTHON_BASE=$tag@$digest|" Dockerfile
echo "pinned $tag@$digest"
