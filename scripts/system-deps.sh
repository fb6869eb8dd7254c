#!/usr/bin/env bash
# Install the system packages the control plane and the browser test need, when missing.
# Go comes with the machine; openssl, chromium and chromedriver come from Debian's packages, and,
# where the real node can run (root on Linux), containerd, runc, the CNI plugins, iptables and
# the image builder (buildah, debootstrap, gcc for the pause binary).
# With the argument `bench`, also what the benchmarks need (wrk), in the same single apt-get.
set -euo pipefail
command -v go >/dev/null || { echo "system-deps: the Go toolchain (1.26) is required on PATH" >&2; exit 1; }
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ "$(uname -s)" = Linux ] && [ "$(id -u)" -eq 0 ] && [ "${DEVCLUSTER_REAL_NODE:-1}" != 0 ]; then
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v buildah >/dev/null || missing+=(buildah)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v gcc >/dev/null || missing+=(gcc libc6-dev)
fi
for extra in "$@"; do
  case "$extra" in
    bench) command -v wrk >/dev/null || missing+=(wrk) ;;
    *) echo "system-deps: unknown argument '$extra' (known: bench)" >&2; exit 2 ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: please install: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
