#!/usr/bin/env bash
# The secrets files docker-compose.yml mounts (/run/secrets/…), in ${BEVAKA_SECRETS:-./secrets}: a random value
# for each file that is missing; an existing file is left as it is (so this is safe to run again). For a
# real deployment put the bank's own values there (or point BEVAKA_SECRETS at them): the Twilio account's
# auth token, the SMTP password. The folder is readable by its owner only; the files are world-readable
# inside it, because the containers' user (10001) reads them through the bind mount.
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${BEVAKA_SECRETS:-./secrets}
mkdir -p "$folder"
chmod 700 "$folder"
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
fernet() { python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'; }
make() {
  local name=$1 value=$2
  if [ ! -e "$folder/$name" ]; then
    printf '%s\n' "$value" > "$folder/$name"
    echo "make-secrets: wrote $folder/$name" >&2
  fi
  chmod 644 "$folder/$name"
}
make secret_key "$(random)"
make postgres_password "$(random)"
make twilio_auth_token "$(random)"   # the fake Twilio's; a real account's token replaces it
make metrics_token "$(random)"       # Prometheus sends it as a bearer token
make signing_token_key "$(fernet)"
make signing_seal_keys "k1=$(random)"  # SIGNING_SEAL_KEYS: id=secret; add a key and move SIGNING_SEAL_KEY_ID to rotate
make email_host_password ""          # mailpit needs none
