#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright; Playwright's own browser download can't work here.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium: installing Debian's chromium" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
/usr/bin/chromium --version >&2
