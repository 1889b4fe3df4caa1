#!/usr/bin/env bash
# `make messages` and the catalogue tests run GNU gettext (xgettext, msgmerge, msgfmt) through Django.
set -euo pipefail
if ! command -v msgfmt >/dev/null || ! command -v xgettext >/dev/null || ! command -v msgmerge >/dev/null; then
  echo "ensure-gettext: installing Debian's gettext" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null
fi
