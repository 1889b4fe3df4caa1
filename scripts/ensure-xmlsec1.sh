#!/usr/bin/env bash
# The signing evidence tests check the mock BankID's XML signatures with an independent verifier,
# xmlsec1 (`xmlsec1 --verify --trusted-pem root.pem signature.xml`), not only with the product's own code.
set -euo pipefail
if ! command -v xmlsec1 >/dev/null; then
  echo "ensure-xmlsec1: installing Debian's xmlsec1" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 >/dev/null
fi
