#!/usr/bin/env bash
# The proxy tests (tests/proxy/) put Debian's nginx in front of a real gunicorn, as the TLS proxy of
# docker-compose.yml stands in front of the web. Each test runs its own nginx as a private foreground process
# (its own config, pid file, logs and temp paths in a temporary folder, on a free loopback port): this only
# makes sure the binary is there. Installing the package must not leave the machine's own nginx service
# running on port 80, so services are kept from starting meanwhile (policy-rc.d), unless a policy exists.
set -euo pipefail
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "ensure-nginx: installing Debian's nginx" >&2
  policy=/usr/sbin/policy-rc.d
  made_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=true
  fi
  trap '[ "$made_policy" = true ] && rm -f "$policy"' EXIT
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
fi
"$(command -v nginx || echo /usr/sbin/nginx)" -v
