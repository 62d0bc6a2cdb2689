#!/bin/sh
# Install the Debian 12 packages dlpsensor builds, tests and benchmarks with.
# Idempotent: when every package is already present it installs nothing and
# does not touch the network.
set -eu

PKGS="build-essential cmake pkg-config
libpcap-dev libhyperscan-dev libndpi-dev libyaml-dev zlib1g-dev libssl-dev
libjansson-dev libcmocka-dev python3-scapy rsyslog tcpreplay iproute2 time"

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
