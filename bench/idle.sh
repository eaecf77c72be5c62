#!/usr/bin/env bash
# bench/idle.sh: what idle TCP clients cost the listen daemon.
#
# Starts `listen --tcp 127.0.0.1:0` (echo mode), then bench/idleclient opens
# clients in steps (each echoes one line, then stays connected without a
# byte more) and reads the daemon's VmRSS from /proc/PID/status at each
# step; with the most clients connected it times new clients, from connect
# to their first line echoed. Prints one JSON object a line on stdout:
#
#   {"type":"idle","clients":1000,"rss_kib":12345,"kib_per_client":1.234}
#   {"type":"new_client","clients":10000,"samples":200,"p50_us":..,"p90_us":..,"p99_us":..,"max_us":..}
#
# kib_per_client is (RSS - RSS at the first point) / (clients - the first
# point's clients). Progress and the machine go to stderr.
#
# Environment:
#   POINTS=0,1000,5000,10000  client counts, ascending
#   SAMPLES=200               new clients timed at the last point
#   TIME_LIMIT=180            seconds the measurement may take in all
#   LISTEN_BIN, IDLECLIENT_BIN  prebuilt binaries (else built into a
#                             temporary directory from this checkout)
#
# Only 127.0.0.1 is used. The daemon is killed by its PID on exit, Ctrl-C
# or TERM; the client runs under `timeout`. Needs an open-file hard limit
# above the last point plus SAMPLES (raised here when run as root).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
POINTS=${POINTS:-0,1000,5000,10000}
SAMPLES=${SAMPLES:-200}
TIME_LIMIT=${TIME_LIMIT:-180}

[[ $POINTS =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "idle.sh: POINTS must be client counts separated by commas, got '$POINTS'" >&2; exit 2; }
[[ $SAMPLES =~ ^[1-9][0-9]{0,3}$ ]] || { echo "idle.sh: SAMPLES must be 1..9999, got '$SAMPLES'" >&2; exit 2; }
[[ $TIME_LIMIT =~ ^[1-9][0-9]{0,3}$ ]] || { echo "idle.sh: TIME_LIMIT must be 1..9999 seconds, got '$TIME_LIMIT'" >&2; exit 2; }
MOST=${POINTS##*,}

TMP=$(mktemp -d /tmp/bcast-idle.XXXXXX)
DAEMON_PID=
CLIENT_PID=
cleanup() {
	if [[ -n $CLIENT_PID ]] && kill -0 "$CLIENT_PID" 2>/dev/null; then
		# timeout passes TERM on to the client.
		kill -TERM "$CLIENT_PID" 2>/dev/null || true
		wait "$CLIENT_PID" 2>/dev/null || true
	fi
	CLIENT_PID=
	if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	DAEMON_PID=
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

LISTEN=${LISTEN_BIN:-}
CLIENT=${IDLECLIENT_BIN:-}
if [[ -z $LISTEN || -z $CLIENT ]]; then
	command -v go >/dev/null 2>&1 || { echo "idle.sh: go is not on PATH; it builds cmd/listen and bench/idleclient (or set LISTEN_BIN and IDLECLIENT_BIN)" >&2; exit 1; }
fi
if [[ -z $LISTEN ]]; then
	LISTEN=$TMP/listen
	(cd "$ROOT" && go build -o "$LISTEN" ./cmd/listen)
fi
if [[ -z $CLIENT ]]; then
	CLIENT=$TMP/idleclient
	(cd "$ROOT" && go build -o "$CLIENT" ./bench/idleclient)
fi

# One descriptor per client on each side, the timed clients, and room for
# the daemon's own. The daemon raises its soft limit to this hard one.
NEED=$((MOST + SAMPLES + 256))
if (($(ulimit -Hn) < NEED)); then
	ulimit -Hn "$NEED" 2>/dev/null || { echo "idle.sh: the open-file hard limit $(ulimit -Hn) is below $NEED; raise it (as root: ulimit -Hn $NEED)" >&2; exit 1; }
fi

echo "idle.sh: $(uname -srm), $(nproc) cores, $(go version 2>/dev/null | cut -d' ' -f3-), points $POINTS" >&2
"$LISTEN" --tcp 127.0.0.1:0 --log-format json --idle-timeout 0 --max-clients $((MOST + SAMPLES + 64)) 2>"$TMP/listen.log" &
DAEMON_PID=$!
ADDR=
for _ in $(seq 100); do
	ADDR=$(sed -n 's/.*"msg":"listening".*"addr":"\([^"]*\)".*/\1/p' "$TMP/listen.log" | head -n 1)
	[[ -n $ADDR ]] && break
	kill -0 "$DAEMON_PID" 2>/dev/null || break
	sleep 0.1
done
if [[ -z $ADDR ]]; then
	echo "idle.sh: the daemon did not start:" >&2
	cat "$TMP/listen.log" >&2
	exit 1
fi
echo "idle.sh: listen pid $DAEMON_PID on $ADDR" >&2

# In the background and waited for, so that a signal to this script is
# handled at once rather than when the client is done.
timeout --kill-after=5 "$((TIME_LIMIT + 5))" "$CLIENT" --addr "$ADDR" --pid "$DAEMON_PID" \
	--points "$POINTS" --samples "$SAMPLES" --timeout "${TIME_LIMIT}s" &
CLIENT_PID=$!
status=0
wait "$CLIENT_PID" || status=$?
CLIENT_PID=
exit "$status"
