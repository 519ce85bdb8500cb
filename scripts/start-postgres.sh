#!/usr/bin/env bash
# Starts the local PostgreSQL cluster for the test suite and prints the URL of a test account
# that may create databases.
set -euo pipefail
user=berth_test
password=berth_test
port=5432

version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$version" ]; then
  echo "PostgreSQL is not installed" >&2
  exit 1
fi
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
  pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
  pg_ctlcluster "$version" main start
fi
for _ in $(seq 1 50); do
  su postgres -c "psql -p $port -qAtc 'select 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
su postgres -c "psql -p $port -qAtc \"select 1 from pg_roles where rolname='$user'\"" | grep -q 1 ||
  su postgres -c "psql -p $port -qc \"create role $user login createdb password '$password'\"" >/dev/null
echo "postgres://$user:$password@127.0.0.1:$port/postgres"
