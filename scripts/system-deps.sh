#!/usr/bin/env bash
# Install the system packages the control plane and the browser test need, when missing.
# Go comes with the machine; openssl, chromium and chromedriver come from Debian's packages.
set -euo pipefail
command -v go >/dev/null || { echo "system-deps: the Go toolchain (1.26) is required on PATH" >&2; exit 1; }
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: please install: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
