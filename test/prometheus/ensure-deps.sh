#!/bin/sh
# Installs Debian's prometheus package (it brings promtool) for the observability tests, if either
# binary is missing, without letting the package start its system daemon (which would hold port
# 9090 and write to /var/lib/prometheus): see scripts/apt-install-no-daemon.sh. The tests start
# their own Prometheus on a free 127.0.0.1 port. Idempotent; exits at once when both are there.
set -eu
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then exit 0; fi
here=$(cd "$(dirname "$0")" && pwd)
# --no-install-recommends: the recommended exporters would be more daemons to keep from starting.
sh "$here/../../scripts/apt-install-no-daemon.sh" prometheus --no-install-recommends prometheus
command -v prometheus >/dev/null && command -v promtool >/dev/null
