#!/bin/sh
# Source rules a compiler does not check (ARCHITECTURE.md):
#  - banned functions: strcpy strcat sprintf vsprintf strtok gets atoi atol alloca
#  - each third-party header only in the one area that wraps it
#  - no "../" includes; nothing on the packet path includes output/ headers
set -u
cd "$(dirname "$0")/.."
fail=0
say() { echo "check-source: $*" >&2; fail=1; }

hits=$(grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|strtok|gets|atoi|atol|alloca)[[:space:]]*\(' \
       sensor include tests bench --include='*.c' --include='*.h' 2>/dev/null |
       grep -vE '(snprintf|vsnprintf|strtok_r)[[:space:]]*\(' || true)
[ -n "$hits" ] && say "banned function:
$hits"

only_in() { # header-regex allowed-dir
    h=$(grep -rlnE "#include[[:space:]]*<$1" sensor include 2>/dev/null | grep -vE "^$2" || true)
    [ -n "$h" ] && say "<$1> included outside $2: $h"
}
only_in 'ndpi' 'sensor/classify/'
only_in 'hs(/|_|\.h)' 'sensor/match/'
only_in 'zlib\.h' 'sensor/app/'
only_in 'pcap' 'sensor/capture/'
only_in 'yaml\.h' 'sensor/(rules|config)/'
only_in 'jansson\.h' 'sensor/(output|rules|config|tools)/'

h=$(grep -rnE '#include[[:space:]]*"\.\./' sensor include 2>/dev/null || true)
[ -n "$h" ] && say "relative include: $h"
for a in core stats validate decode capture flow reasm classify app rules match detect alert dispatch; do
    h=$(grep -rlnE '#include[[:space:]]*"dlp/output' "sensor/$a" 2>/dev/null || true)
    [ -n "$h" ] && say "packet path includes output/: $h"
done
exit $fail
