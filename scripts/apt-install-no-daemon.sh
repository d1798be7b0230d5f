#!/bin/sh
# apt-install-no-daemon.sh SERVICE [apt-get install options and packages...]
# Installs Debian packages without letting them start a system daemon, which would hold the ports
# and directories the tests and benchmarks want for the processes they start themselves: a
# policy-rc.d that refuses every service start is in place during the install (the previous one,
# if any, is put back afterwards), and SERVICE is stopped and disabled in case a service manager
# started it anyway. Callers check first whether what they need is already there.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 SERVICE [apt-get install options] PACKAGE..." >&2
  exit 2
fi
service=$1
shift
if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install $*: this is not a Debian/Ubuntu system (no apt-get)" >&2
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
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
elif command -v service >/dev/null 2>&1; then
  $SUDO service "$service" stop >/dev/null 2>&1 || true
fi
