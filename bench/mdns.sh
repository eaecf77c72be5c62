#!/usr/bin/env bash
# bench/mdns.sh: the mDNS speed-and-scale benchmark of issue 14.
#
# In one netns LAN, 50 responders and one browser, IPv4 and IPv6: first
# 50 `bcast announce --proto mdns` processes browsed by
# `bcast discover --proto mdns --json`, then 50 avahi-daemons publishing
# the same services (avahi-publish) browsed by `avahi-browse -rpk`, on the
# same hosts and bridge. It reports, per side, the time from the
# browser's start until all 50 are resolved, the mDNS packets on the
# bridge in that time, and the responders' CPU and RSS per instance.
#
# It is integration.TestIntegrationMDNSScale with BCAST_BENCH_MDNS=1, run
# without -race, ROUNDS times; each round's table goes to
# bench/out/mdns-rN.md, its log to bench/out/raw/mdns-rN.log, and all of
# them to bench/out/mdns.md. Needs root (network namespaces) and the
# interop peers .ci/setup installs (avahi-daemon, avahi-utils, dbus);
# every datagram stays inside the namespaces the test builds.
#
# Environment:
#   ROUNDS=3                 runs (each about 50 s here)
#   BCAST_BENCH_MDNS_N=50    responders
#   BCAST_BENCH_MDNS_AVAHI=  avahi-daemons (default: one per responder; a
#                            divisor of N makes each publish N/that services)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=$HERE/out
RAW=$OUT/raw
ROUNDS=${ROUNDS:-3}
[[ $ROUNDS =~ ^[1-9]$ ]] || { echo "mdns.sh: ROUNDS must be 1..9, got '$ROUNDS'" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "mdns.sh: needs root (it builds network namespaces)" >&2; exit 1; }
for cmd in go avahi-daemon avahi-browse avahi-publish dbus-daemon ip ss; do
	command -v "$cmd" >/dev/null 2>&1 || { echo "mdns.sh: $cmd is not installed (.ci/setup installs the peers)" >&2; exit 1; }
done
mkdir -p "$OUT" "$RAW"

{
	echo "## bcast bench: mDNS, 50 responders and one browser on one bridge"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- kernel: $(uname -r); CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo); nproc: $(nproc); $(go env GOVERSION)"
	echo "- avahi: $(avahi-daemon --version 2>/dev/null | head -n 1)"
	echo
} >"$OUT/mdns.md"

export BCAST_BENCH_MDNS=1 CI=true
rc=0
for ((r = 1; r <= ROUNDS; r++)); do
	echo "mdns.sh: round $r/$ROUNDS" >&2
	rm -f -- "$OUT/mdns-r$r.md"
	# The test's own timeouts bound every wait; -timeout is the backstop.
	if ! (cd "$ROOT" && BCAST_BENCH_MDNS_OUT="$OUT/mdns-r$r.md" go test -count=1 -timeout 8m \
		-run '^TestIntegrationMDNSScale$' -v ./integration/ >"$RAW/mdns-r$r.log" 2>&1); then
		echo "mdns.sh: round $r failed; see $RAW/mdns-r$r.log" >&2
		rc=1
	fi
	if [[ -s $OUT/mdns-r$r.md ]]; then
		{ echo "### round $r"; echo; cat "$OUT/mdns-r$r.md"; echo; } >>"$OUT/mdns.md"
	else
		echo "### round $r: FAILED (no table; $RAW/mdns-r$r.log)" >>"$OUT/mdns.md"
	fi
done
cat "$OUT/mdns.md"
exit "$rc"
