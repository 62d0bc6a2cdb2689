#!/bin/sh
# make-all.sh OUTDIR - regenerates every capture of pcaps/ into OUTDIR (pcaps/README.md says
# which script makes which file). Deterministic: the same bytes on every run.
set -eu
out=${1:?usage: make-all.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
py=${DLP_PYTHON:-/usr/bin/python3}   # Debian's python has scapy; a pyenv one may not
export PYTHONDONTWRITEBYTECODE=1 PYTHONHASHSEED=0
mkdir -p "$out"
for g in gen_tcp gen_link gen_ip gen_udp gen_pcapng gen_bad gen_demo gen_detect gen_app gen_tunnel gen_reload gen_policy gen_tuning gen_encodings gen_escapes gen_encap; do
    "$py" "$here/$g.py" "$out"
done
"$py" "$here/gen_b64api.py" "$out"
"$py" "$here/gen_h2.py" "$out"
