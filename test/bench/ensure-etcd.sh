#!/bin/sh
# Installs Debian's etcd-server for the benchmark if etcd is missing, without letting the package
# start a system daemon (which would hold ports and disk): see scripts/apt-install-no-daemon.sh.
set -eu
if command -v etcd >/dev/null 2>&1; then exit 0; fi
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/../../scripts/apt-install-no-daemon.sh" etcd etcd-server
command -v etcd >/dev/null
