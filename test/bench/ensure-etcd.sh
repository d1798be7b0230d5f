#!/bin/sh
# Installs Debian's etcd-server for the benchmark if etcd is missing, without letting the package
# start a system daemon (which would hold ports and disk): a policy-rc.d that refuses every service
# start is in place during the install, and the service is disabled afterwards.
set -eu
if command -v etcd >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "etcd is missing and this is not a Debian/Ubuntu system: install etcd 3.4+ and retry" >&2
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
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq etcd-server
# In case a service manager started it anyway: stop and disable it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now etcd >/dev/null 2>&1 || true
fi
command -v etcd >/dev/null
