#!/usr/bin/env bash
# Installs the named Debian packages that are missing; runs `apt-get update` at most once an hour.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
stamp=/var/lib/apt/periodic/eddy-update-stamp
if [[ ! -f $stamp || -n $(find "$stamp" -mmin +60) ]]; then
  echo "apt: updating package lists"
  apt-get update -qq
  mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
echo "apt: installing ${missing[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
