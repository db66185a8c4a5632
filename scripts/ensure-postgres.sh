#!/usr/bin/env bash
# Finds PostgreSQL's server binaries the way eventline does (pg_config
# --bindir, PATH, /usr/lib/postgresql/*/bin). When none are installed and we
# are root on Debian, installs the postgresql package; otherwise prints the
# one command that would.
set -euo pipefail
have() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then return 0; fi
  if command -v initdb >/dev/null 2>&1; then return 0; fi
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}
# PostgreSQL refuses to run as root; eventline then runs it as `postgres`.
ensure_user() {
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "creating the postgres system user (PostgreSQL refuses to run as root)" >&2
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}
if have; then ensure_user; exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries not found: installing the postgresql package" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  have && { ensure_user; exit 0; }
fi
echo "PostgreSQL server binaries not found. Install them with: sudo apt-get install -y postgresql" >&2
exit 1
