#!/bin/sh
# Installs Debian's prometheus package (it brings promtool) for the observability tests, if either
# binary is missing, without letting the package start its system daemon (which would hold port
# 9090 and write to /var/lib/prometheus): a policy-rc.d that refuses every service start is in
# place during the install, and the service is stopped and disabled afterwards in case a service
# manager started it anyway. The tests start their own Prometheus on a free 127.0.0.1 port.
# Idempotent; exits at once when both binaries are there.
set -eu
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "prometheus/promtool are missing and this is not a Debian/Ubuntu system: install Prometheus 2.x and retry" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
policy=/usr/sbin/policy-rc.d
backup=""
if [ -e "$policy" ]; then backup="$(mktemp)"; $SUDO cp -p "$policy" "$backup"; fi
restore() {
  if [ -n "$backup" ]; then $SUDO cp -p "$backup" "$policy"; rm -f "$backup"; else $SUDO rm -f "$policy"; fi
}
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
$SUDO chmod 755 "$policy"
$SUDO apt-get update -qq
# --no-install-recommends: the recommended exporters would be more daemons to keep from starting.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
  $SUDO service prometheus stop >/dev/null 2>&1 || true
fi
command -v prometheus >/dev/null && command -v promtool >/dev/null
