#!/usr/bin/env bash
# Installs and starts what contactcore needs from the operating system, only where
# it is missing: Debian/Ubuntu packages, a local Redis and a local PostgreSQL.
# Safe to run again and again; prints what it does.
set -euo pipefail

want_pkgs=(debootstrap sip-tester redis-server postgresql espeak-ng sox python3-venv chromium)
[ -n "${EXTRA_PKGS:-}" ] && want_pkgs+=(${EXTRA_PKGS})

missing=()
for p in "${want_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

fresh_pg=no
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "ensure-system: missing packages: ${missing[*]}" >&2
        echo "ensure-system: run as root (or: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    printf 'ensure-system: installing %s\n' "${missing[*]}"
    [[ " ${missing[*]} " == *" postgresql "* ]] && fresh_pg=yes
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "ensure-system: starting Redis on 127.0.0.1:6379"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/contactcore.log
    for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_ready; then
    echo "ensure-system: starting PostgreSQL on 127.0.0.1:5432"
    ver=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ "$fresh_pg" = yes ]; then
        # A fresh local install: let local test connections in without a password.
        hba=/etc/postgresql/$ver/main/pg_hba.conf
        grep -q "contactcore-local" "$hba" || sed -i '1i host all all 127.0.0.1/32 trust # contactcore-local' "$hba"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$ver" main start
    for _ in $(seq 100); do pg_ready && break; sleep 0.1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    su postgres -c "psql -Atc 'create database test'" >/dev/null 2>&1 || true
fi
echo "ensure-system: ok (Redis and PostgreSQL answer on 127.0.0.1)"
