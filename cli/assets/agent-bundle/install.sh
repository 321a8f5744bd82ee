#!/bin/sh
# Installs the edgefleet agent from this bundle (made by `edgefleet agent-bundle`). Everything it
# needs is inside: no network, no npm. Needs Node.js 20 or newer on the PATH.
#
#   # install, enroll, run under systemd:
#   sudo ./install.sh --broker mqtt://server:1883 --token-file /path/to/token
#   # files only; run bin/edgefleet-agent yourself:
#   ./install.sh --prefix "$HOME/edgefleet-agent" --no-systemd
#
# Options:
#   --prefix DIR       where the agent goes (default /opt/edgefleet-agent)
#   --broker URL       EDGEFLEET_AGENT_BROKER written to /etc/edgefleet/agent.env (systemd installs)
#   --token-file FILE  the enrollment token, copied to /etc/edgefleet/enroll-token (root, group edgefleet, 0640)
#   --no-systemd       only copy the files (no user, no unit, no root needed)
#   --no-start         install and enable the unit, but do not start it
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=/opt/edgefleet-agent
broker=""
token_file=""
systemd=yes
start=yes

die() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --broker) broker=${2:?--broker needs a URL}; shift 2 ;;
    --token-file) token_file=${2:?--token-file needs a file}; shift 2 ;;
    --no-systemd) systemd=no; shift ;;
    --no-start) start=no; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done

platform=$(sed -n 's/.*"platform": *"\([^"]*\)".*/\1/p' "$here/BUNDLE.json")
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) this=linux-x64 ;;
  Linux-aarch64|Linux-arm64) this=linux-arm64 ;;
  *) this="$(uname -s)-$(uname -m)" ;;
esac
[ "$platform" = "$this" ] ||
  die "this bundle is for $platform, this machine is $this: build one with edgefleet agent-bundle --platform $this"

command -v node >/dev/null 2>&1 || die "Node.js 20 or newer is needed on the PATH (e.g. apt-get install nodejs)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old: the agent needs 20 or newer"
if [ "$systemd" = yes ]; then
  [ "$(id -u)" = 0 ] || die "installing the service needs root (or pass --no-systemd)"
  # The canonical test for "booted with systemd" (sd_booted(3)): a container without it has systemctl but no manager.
  [ -d /run/systemd/system ] || die "systemd is not running here: pass --no-systemd and start the agent another way"
  [ -z "$token_file" ] || [ -r "$token_file" ] || die "cannot read the token file $token_file"
fi

mkdir -p "$prefix"
rm -rf "$prefix/lib" "$prefix/bin"
cp -R "$here/lib" "$here/bin" "$prefix/"
cp "$here/BUNDLE.json" "$prefix/"
chmod 0755 "$prefix/bin/edgefleet-agent"
version=$("$prefix/bin/edgefleet-agent" --version) || die "the installed agent does not start (see above)"
echo "installed edgefleet-agent $version ($platform) in $prefix"

if [ "$systemd" = no ]; then
  echo "run it: $prefix/bin/edgefleet-agent --broker mqtt://server:1883 --data-dir DIR --enroll-token-file FILE"
  exit 0
fi

id edgefleet >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edgefleet-agent --shell /usr/sbin/nologin edgefleet
install -d -m 0750 -g edgefleet /etc/edgefleet
if [ ! -f /etc/edgefleet/agent.env ]; then
  umask 027
  {
    echo "# edgefleet agent settings (edgefleet-agent --help lists every EDGEFLEET_AGENT_* variable)"
    echo "EDGEFLEET_AGENT_BROKER=${broker:-mqtt://server:1883}"
  } > /etc/edgefleet/agent.env
  chgrp edgefleet /etc/edgefleet/agent.env
elif [ -n "$broker" ]; then
  sed -i "s|^EDGEFLEET_AGENT_BROKER=.*|EDGEFLEET_AGENT_BROKER=$broker|" /etc/edgefleet/agent.env
fi
if [ -n "$token_file" ]; then
  install -m 0640 -o root -g edgefleet "$token_file" /etc/edgefleet/enroll-token
fi
sed "s|/opt/edgefleet-agent|$prefix|g" "$here/systemd/edgefleet-agent.service" \
  > /etc/systemd/system/edgefleet-agent.service
systemctl daemon-reload
if [ "$start" = yes ]; then
  systemctl enable --now edgefleet-agent
  echo "started: journalctl -u edgefleet-agent -f   (\"enrolled\", then \"online\")"
else
  systemctl enable edgefleet-agent
  echo "enabled; start it with: systemctl start edgefleet-agent"
fi
