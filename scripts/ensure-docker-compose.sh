#!/usr/bin/env bash
# A test validates docker-compose.yml with Debian's docker-compose (1.29; no engine needed for `config`).
set -euo pipefail
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "ensure-docker-compose: installing Debian's docker-compose" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
fi
docker-compose version --short >&2
