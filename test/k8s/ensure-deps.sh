#!/usr/bin/env bash
# What the Kubernetes tests (test/k8s) need, run by `make test-deps`: openssl (the control plane's certificates)
# and the Go-built Kubernetes control plane, etcd and helm, cached outside the repository by
# tools/build.sh (a fresh machine builds them once, ~20-30 min on 2 cores; afterwards this takes about a second).
# kubectl comes with the control plane build (same version as the API server).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v openssl >/dev/null; then
  echo "k8s ensure-deps: installing openssl"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends openssl >/dev/null
fi

echo "k8s ensure-deps: tools in ${CONFLUX_TOOLS_DIR:-$HOME/.cache/conflux-tools}"
"$here/tools/build.sh" all | sed 's/^/k8s ensure-deps: /'
