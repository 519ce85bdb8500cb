#!/usr/bin/env bash
# Installs the real tools the tests drive (Debian packages), when running as root and missing.
set -euo pipefail

declare -A package_of=(
  [skopeo]=skopeo [buildah]=buildah [podman]=podman [dockerd]=docker.io [docker]=docker.io
  [docker-registry]=docker-registry [busybox]=busybox-static [pg_ctlcluster]=postgresql
  [redis-server]=redis-server [wrk]=wrk [newuidmap]=uidmap [htpasswd]=apache2-utils [ab]=apache2-utils
  [jupyter-notebook]=jupyter-notebook [nginx]=nginx [jupyterhub]=jupyterhub
)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
done
# The aws CLI on PATH may be another (pip) one; the tests use Debian's v2 at /usr/bin/aws.
[ -x /usr/bin/aws ] || missing+=(awscli)
# Jupyter's kernels run on Debian's python3 (the notebook's own interpreter), which needs ipykernel.
/usr/bin/python3 -c 'import ipykernel' >/dev/null 2>&1 || missing+=(python3-ipykernel)
# busybox may come from the dynamic package; the tests need the static binary.
if command -v busybox >/dev/null 2>&1 && ! file -L "$(command -v busybox)" 2>/dev/null | grep -q 'statically linked'; then
  missing+=(busybox-static)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "missing system packages (install them as root): ${missing[*]}" >&2
  exit 1
fi
mapfile -t unique < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing system packages: ${unique[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${unique[@]}" file >/dev/null
