#!/bin/sh
# check-regen.sh [PCAPS_DIR] - regenerates every capture into a temporary directory and
# compares it byte for byte with the committed one; also fails on a committed capture no
# script makes, or a generated one that is not committed. Exit 0 when all match.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pcaps=${1:-$here/..}
tmp=$(mktemp -d /tmp/dlp-pcaps-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
"$here/make-all.sh" "$tmp"
list() { (cd "$1" && find . -path ./gen -prune -o -type f ! -name README.md -print | sort); }
list "$tmp" >"$tmp.gen"
list "$pcaps" >"$tmp.have"
fail=0
if ! cmp -s "$tmp.gen" "$tmp.have"; then
    echo "check-regen: committed and generated file lists differ:" >&2
    diff "$tmp.have" "$tmp.gen" >&2 || true
    fail=1
fi
while read -r f; do
    if [ -f "$pcaps/$f" ] && ! cmp -s "$tmp/$f" "$pcaps/$f"; then
        echo "check-regen: $f differs from what its script makes" >&2
        fail=1
    fi
done <"$tmp.gen"
n=$(wc -l <"$tmp.gen")
rm -f "$tmp.gen" "$tmp.have"
[ $fail -eq 0 ] && echo "check-regen: all $n captures match their scripts"
exit $fail
