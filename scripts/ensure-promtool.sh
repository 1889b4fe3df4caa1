#!/usr/bin/env bash
# promtool checks and unit-tests deploy/prometheus/alerts.yml (tests/ops/test_alerts.py). Debian's
# `prometheus` package brings it; its server is not wanted here, so the service is neither started nor
# enabled (policy-rc.d refuses it during the install).
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1; then
  echo "ensure-promtool: installing Debian's prometheus (for promtool)" >&2
  apt-get update -qq
  policy=/usr/sbin/policy-rc.d
  made_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && made_policy=true
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ "$made_policy" = true ]; then rm -f "$policy"; fi
fi
promtool --version 2>&1 | head -1 >&2
