#!/bin/sh
# install_layout: `cmake --install` (make install) into a staging directory puts
# every file where the binary and the unit expect it: the staged binary finds its
# rules by itself (../share/dlpsensor/rules), the unit names the installed binary
# and configuration, the example configuration passes -T and is never overwritten.
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
set -eu
BUILD=$1
SRC=$2
T=$(mktemp -d /tmp/dlp-install-XXXXXX)
trap 'rm -rf "$T"' EXIT
S=$T/stage
P=$S/usr/local
fail() { echo "install_layout: $*" >&2; exit 1; }

DESTDIR=$S cmake --install "$BUILD" --prefix /usr/local >"$T/log" 2>&1 || { cat "$T/log"; fail "install failed"; }

[ -x "$P/bin/dlpsensor" ] || fail "no bin/dlpsensor"
want=$(ls "$SRC"/rules/*.yaml | wc -l)
got=$(ls "$P"/share/dlpsensor/rules/*.yaml | wc -l)
[ "$want" -eq "$got" ] || fail "rules: $got installed, $want shipped"
for f in share/man/man8/dlpsensor.8 lib/sysusers.d/dlpsensor.conf \
         share/doc/dlpsensor/deploy.md share/doc/dlpsensor/dlpsensor.yaml \
         lib/systemd/system/dlpsensor.service; do
    [ -f "$P/$f" ] || fail "missing $f"
done
conf=$(find "$S" -path "$P" -prune -o -name dlpsensor.yaml -print | head -1)
[ -n "$conf" ] || fail "no configuration installed outside the prefix"
confdir=${conf#"$S"}
confdir=${confdir%/dlpsensor.yaml}
unit=$P/lib/systemd/system/dlpsensor.service
grep -qx "ExecStart=/usr/local/bin/dlpsensor -c $confdir/dlpsensor.yaml -u dlpsensor" "$unit" ||
    fail "unit ExecStart: $(grep ExecStart= "$unit")"

# No -R: the staged binary must find the staged rules next to itself.
"$P/bin/dlpsensor" -T -c "$conf" -u nobody --rules-cache "$T/cache" >"$T/out" 2>"$T/err" ||
    { cat "$T/err"; fail "-T on the installed example failed"; }
grep -q "^dlpsensor: configuration OK: " "$T/out" || fail "unexpected -T output: $(cat "$T/out")"
grep -q "; live on eth1; user nobody$" "$T/out" || fail "unexpected -T output: $(cat "$T/out")"

# The administrator's configuration survives a second install.
echo "# local edit" >>"$conf"
DESTDIR=$S cmake --install "$BUILD" --prefix /usr/local >"$T/log" 2>&1 || fail "second install failed"
tail -1 "$conf" | grep -qx "# local edit" || fail "the configuration was overwritten"

if command -v systemd-analyze >/dev/null 2>&1; then
    sed "s#^ExecStart=/usr/local/bin/dlpsensor#ExecStart=$P/bin/dlpsensor#" "$unit" >"$T/dlpsensor.service"
    systemd-analyze verify --man=no "$T/dlpsensor.service" >"$T/v" 2>&1 ||
        { cat "$T/v"; fail "systemd-analyze verify"; }
fi
echo "install_layout: ok"
