#!/usr/bin/env bash
# make chaos and the short chaos tests start PRIVATE PostgreSQL and Redis servers: make sure the server
# binaries are installed (initdb/pg_ctl under /usr/lib/postgresql/*/bin, redis-server, runuser).
# Installs what is missing; never starts, stops or touches the machine's own services.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-chaos: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "ensure-chaos: no postgres system user (initdb refuses root); install the postgresql package" >&2
  exit 1
fi
