#!/bin/sh
# Writes the secrets compose.yaml mounts (once; existing files are kept). The files must be
# readable by the container's user (uid 10001), so they are 0644 inside a 0700 directory.
set -eu
cd "$(dirname "$0")"
umask 022
mkdir -p secrets
chmod 700 secrets
new() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
[ -s secrets/django_secret_key ] || new > secrets/django_secret_key
[ -s secrets/postgres_password ] || new > secrets/postgres_password
[ -s secrets/minio_password ] || new > secrets/minio_password
[ -s secrets/metrics_token ] || new > secrets/metrics_token
[ -s secrets/database_url ] || \
  printf 'postgres://rndcards:%s@db:5432/rndcards\n' "$(cat secrets/postgres_password)" > secrets/database_url
chmod 644 secrets/*
echo "secrets in $(pwd)/secrets"
