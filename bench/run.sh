#!/usr/bin/env bash
# bench/run.sh: the measuring stick for bcast's datagram speed on loopback.
#
# Builds bench/c/udpref.c (the C limit), bench/goref (plain Go) and, when
# it exists, ./cmd/bcast into bench/out/, installs iperf3/socat/jq/gcc from
# Debian packages if they are missing, then runs every scenario as one sender process -> one receiver
# process on 127.0.0.1, interleaved (all scenarios of round 1, then of round
# 2, ...) so slow drifts of the machine hit every row alike, and prints the
# median of the rounds as a Markdown table (also written to
# bench/out/results.md). Raw JSON of every run is kept in bench/out/raw/.
#
# Environment:
#   ROUNDS=3            rounds (each scenario runs once per round and size)
#   SECONDS_PER_RUN=3   how long each sender floods
#   QUICK=1             smoke test: ROUNDS=1 SECONDS_PER_RUN=1, fewer pings
#   PING_COUNT=20000    round trips per echo run
#
# Nothing is pinned: the machine has 2 cores and the sender, the receiver
# (and for socat a third process) share them, so every row includes the cost
# of two busy processes competing for 2 CPUs, as they would for a user.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=$HERE/out
RAW=$OUT/raw
SIZES=(64 1400)

if [[ ${QUICK:-0} == 1 ]]; then
	ROUNDS=${ROUNDS:-1}
	SECONDS_PER_RUN=${SECONDS_PER_RUN:-1}
	PING_COUNT=${PING_COUNT:-2000}
else
	ROUNDS=${ROUNDS:-3}
	SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
	PING_COUNT=${PING_COUNT:-20000}
fi
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "run.sh: ROUNDS must be 1..99, got '$ROUNDS'" >&2; exit 2; }
# Whole seconds: iperf3 -t takes no fractions.
if ! [[ $SECONDS_PER_RUN =~ ^[1-9][0-9]?$ ]] || ((SECONDS_PER_RUN > 60)); then
	echo "run.sh: SECONDS_PER_RUN must be a whole number of seconds, 1..60, got '$SECONDS_PER_RUN'" >&2
	exit 2
fi
[[ $PING_COUNT =~ ^[1-9][0-9]{0,6}$ ]] || { echo "run.sh: PING_COUNT must be 1..9999999, got '$PING_COUNT'" >&2; exit 2; }
# Receivers stop 0.5 s after the last datagram; this cap only matters if the
# sender hangs.
RECV_WINDOW=$((SECONDS_PER_RUN + 2))
PROC_LIMIT=$((SECONDS_PER_RUN + 15))

# ---------------------------------------------------------------- processes
# Every process is started by start_bg under `timeout`, its PID kept in
# LIVE until wait_bounded reaps it; the EXIT trap kills whatever is still
# live, by PID. Reaped PIDs are forgotten at once so a recycled PID is never
# signalled.
declare -A LIVE=()
LAST_PID=
TMP=$(mktemp -d /tmp/bcast-bench.XXXXXX)

cleanup() {
	local p
	for p in "${!LIVE[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	if ((${#LIVE[@]})); then
		sleep 0.3
		for p in "${!LIVE[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	fi
	rm -rf -- "$TMP"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# start_bg OUT ERR LIMIT CMD...: run CMD in the background for at most LIMIT
# seconds (then TERM, 2 s later KILL); sets LAST_PID.
start_bg() {
	local out=$1 err=$2 limit=$3
	shift 3
	timeout -k 2 "$limit" "$@" >"$out" 2>"$err" &
	LAST_PID=$!
	LIVE[$LAST_PID]=1
}

# wait_bounded PID LIMIT: wait at most LIMIT seconds for PID, then kill it;
# returns its exit status (124/137 when it had to be stopped).
wait_bounded() {
	local pid=$1 limit=$2 rc=0 i=0
	local n=$((limit * 20))
	while kill -0 "$pid" 2>/dev/null && ((i < n)); do
		sleep 0.05
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		sleep 0.3
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	unset "LIVE[$pid]"
	return "$rc"
}

# ---------------------------------------------------------------- ports
# Ports come from 20000-31999, below the kernel's ephemeral range, skipping
# any port some socket on this machine already uses.
NEXT_PORT=$((20000 + RANDOM % 10000))
port_in_use() {
	local hex
	hex=$(printf '%04X' "$1")
	awk -v h="$hex" 'FNR > 1 { split($2, a, ":"); if (a[2] == h) found = 1 } END { exit !found }' \
		/proc/net/udp /proc/net/udp6 /proc/net/tcp /proc/net/tcp6
}
next_port() {
	local tries=0
	while port_in_use "$NEXT_PORT"; do
		NEXT_PORT=$((NEXT_PORT + 1))
		tries=$((tries + 1))
		((tries < 1000 && NEXT_PORT < 32000)) || { echo "run.sh: no free port near $NEXT_PORT" >&2; return 1; }
	done
	PORT=$NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 1))
}

# wait_bound PROTO PORT PID: wait up to 5 s until something listens on
# 127.0.0.1:PORT (udp: bound; tcp: LISTEN), failing early if PID died.
wait_bound() {
	local proto=$1 port=$2 pid=$3 hex i
	hex=$(printf '%04X' "$port")
	for ((i = 0; i < 100; i++)); do
		if awk -v h="$hex" -v tcp="$([[ $proto == tcp ]] && echo 1 || echo 0)" \
			'FNR > 1 { split($2, a, ":"); if (a[2] == h && (!tcp || $4 == "0A")) found = 1 } END { exit !found }' \
			"/proc/net/$proto" "/proc/net/${proto}6"; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# ---------------------------------------------------------------- results
# runs.tsv: round scenario size received bytes seconds sent status
#           recv_cpu_s send_cpu_s (-1: not known)
# rtt.tsv:  round size median_us p99_us lost status min_us
RUNS=$OUT/runs.tsv
RTT=$OUT/rtt.tsv

record() { # round scen size received bytes seconds sent recv_cpu_s send_cpu_s
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\tok\t%s\t%s\n' "$@" >>"$RUNS"
	awk -v r="$4" -v b="$5" -v s="$6" -v n="$7" -v sc="$2" -v sz="$3" -v rd="$1" 'BEGIN {
		pps = s > 0 ? r / s : 0; loss = n > 0 ? 100 * (n - r) / n : 0; if (loss < 0) loss = 0
		printf "  round %s  %-11s %5s B  %12.0f pps  %8.1f MB/s  loss %5.1f%%\n", rd, sc, sz, pps, (s > 0 ? b / s / 1e6 : 0), loss
	}' >&2
}
record_fail() { # round scen size reason
	printf '%s\t%s\t%s\t0\t0\t0\t0\tfail\t-1\t-1\n' "$1" "$2" "$3" >>"$RUNS"
	printf '  round %s  %-11s %5s B  FAILED: %s\n' "$1" "$2" "$3" "$4" >&2
}

# json FILE KEY: one numeric field of a one-line JSON result, or fail.
json() {
	local v
	v=$(jq -er --arg k "$2" '.[$k] | numbers' "$1" 2>/dev/null) || return 1
	printf '%s\n' "$v"
}

# CPU_WRAP FILE CMD...: runs CMD, then writes the CPU time (user + system,
# seconds) of CMD and everything it waited for to FILE, for tools that do
# not report their own (socat, bcast). `times` prints the shell's, then its
# children's "XmY.YYYs XmY.YYYs"; it must not run in a pipeline, whose
# subshell has no children.
# shellcheck disable=SC2016 # the script is for the inner bash to expand
CPU_WRAP=(bash -c 'f=$1; shift; "$@"; rc=$?; times >"$f"; exit "$rc"' cpu-wrap)
# cpu_file FILE: the seconds CPU_WRAP wrote, or fail.
cpu_file() {
	[[ -s $1 ]] || return 1
	awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); t += p[1] * 60 + p[2] } printf "%.6f\n", t; ok = 1 }
		END { exit !ok }' "$1"
}

# ---------------------------------------------------------------- scenarios
# measure_pair ROUND SCEN SIZE RECV_CMD... -- SEND_CMD...
# The receiver prints {"received","bytes","seconds"}, the sender {"sent"},
# each may add "cpu_s". In either command "@PORT@" becomes a fresh port and
# "@RCPU@" / "@SCPU@" the receiver's / sender's CPU_WRAP file. If a function
# normalize_SCEN exists it is called with the two JSON files after the run
# and rewrites them into that form.
measure_pair() {
	local round=$1 scen=$2 size=$3
	shift 3
	local -a rcmd=() scmd=()
	while (($#)) && [[ $1 != -- ]]; do rcmd+=("$1"); shift; done
	(($#)) && shift
	scmd=("$@")
	next_port || { record_fail "$round" "$scen" "$size" "no free port"; return 0; }
	local base=$RAW/r$round-$scen-$size rpid spid src=0 rrc=0
	rcmd=("${rcmd[@]//@PORT@/$PORT}")
	rcmd=("${rcmd[@]//@RCPU@/$base.recv.cpu}")
	scmd=("${scmd[@]//@PORT@/$PORT}")
	scmd=("${scmd[@]//@SCPU@/$base.send.cpu}")
	start_bg "$base.recv.json" "$base.recv.err" "$PROC_LIMIT" "${rcmd[@]}"
	rpid=$LAST_PID
	if ! wait_bound udp "$PORT" "$rpid"; then
		wait_bounded "$rpid" 1 || true
		record_fail "$round" "$scen" "$size" "receiver did not bind 127.0.0.1:$PORT: $(head -c 300 "$base.recv.err")"
		return 0
	fi
	start_bg "$base.send.json" "$base.send.err" "$PROC_LIMIT" "${scmd[@]}"
	spid=$LAST_PID
	wait_bounded "$spid" "$PROC_LIMIT" || src=$?
	wait_bounded "$rpid" "$PROC_LIMIT" || rrc=$?
	if ((src || rrc)); then
		record_fail "$round" "$scen" "$size" "sender exit $src, receiver exit $rrc: $(head -c 300 "$base.send.err" "$base.recv.err" | tr '\n' ' ')"
		return 0
	fi
	if declare -F "normalize_$scen" >/dev/null && ! "normalize_$scen" "$base.recv.json" "$base.send.json"; then
		record_fail "$round" "$scen" "$size" "no summary to read in $base.{recv,send}.json"
		return 0
	fi
	local rec bytes secs sent rcpu scpu
	if rec=$(json "$base.recv.json" received) && bytes=$(json "$base.recv.json" bytes) &&
		secs=$(json "$base.recv.json" seconds) && sent=$(json "$base.send.json" sent) && ((rec > 0)); then
		rcpu=$(json "$base.recv.json" cpu_s) || rcpu=$(cpu_file "$base.recv.cpu") || rcpu=-1
		scpu=$(json "$base.send.json" cpu_s) || scpu=$(cpu_file "$base.send.cpu") || scpu=-1
		record "$round" "$scen" "$size" "$rec" "$bytes" "$secs" "$sent" "$rcpu" "$scpu"
	else
		record_fail "$round" "$scen" "$size" "no usable result in $base.{recv,send}.json"
	fi
}

UDPREF=$OUT/udpref
GOREF=$OUT/goref
RCMD=()
SCMD=()

# Command lines are built into arrays (never word-split strings):
# c_recv/go_recv/c_flood SIZE set RCMD or SCMD.
c_recv() { RCMD=("$UDPREF" recv @PORT@ --size "$1" --batch 64 --seconds "$RECV_WINDOW" --idle 0.5 --start-timeout 5); }
go_recv() { RCMD=("$GOREF" recv @PORT@ --size "$1" --seconds "$RECV_WINDOW" --idle 0.5 --start-timeout 5); }
c_flood() { SCMD=("$UDPREF" send 127.0.0.1 @PORT@ --size "$1" --seconds "$SECONDS_PER_RUN" --batch 64); }

# C sendmmsg -> C recvmmsg, 64 datagrams per call: the limit every other
# row is divided by.
scen_cpair() { c_recv "$2"; c_flood "$2"; measure_pair "$1" cpair "$2" "${RCMD[@]}" -- "${SCMD[@]}"; }

# The C flood drained by different receivers: same sender, so the rows show
# what each receive path empties per second. drain_c repeats cpair on
# purpose: the gap between the two is the run-to-run noise.
scen_drain_c() { c_recv "$2"; c_flood "$2"; measure_pair "$1" drain_c "$2" "${RCMD[@]}" -- "${SCMD[@]}"; }
scen_drain_go() { go_recv "$2"; c_flood "$2"; measure_pair "$1" drain_go "$2" "${RCMD[@]}" -- "${SCMD[@]}"; }
scen_drain_xnet() {
	go_recv "$2"
	c_flood "$2"
	measure_pair "$1" drain_xnet "$2" "${RCMD[@]}" --xnet-batch --batch 64 -- "${SCMD[@]}"
}

# Plain Go at both ends: one WriteToUDP / ReadFromUDP per datagram.
scen_gopair() {
	go_recv "$2"
	measure_pair "$1" gopair "$2" "${RCMD[@]}" -- "$GOREF" send 127.0.0.1 @PORT@ --size "$2" --seconds "$SECONDS_PER_RUN"
}

# UDP_SEGMENT: as many SIZE-byte segments per send as fit in 64 KiB (at most
# 64, the kernel limit before 6.10), 8 such sends per sendmmsg; the
# receiver turns on UDP_GRO and counts segments from the gso_size cmsg.
scen_gso() {
	local segs=$((65507 / $2))
	((segs > 64)) && segs=64
	measure_pair "$1" gso "$2" "$UDPREF" recv @PORT@ --gro --batch 64 --seconds "$RECV_WINDOW" --idle 0.5 --start-timeout 5 \
		-- "$UDPREF" send 127.0.0.1 @PORT@ --size "$2" --seconds "$SECONDS_PER_RUN" --gso "$segs" --batch 8
}

# iperf3 at both ends (UDP, -b 0 = no pacing, -l = datagram size). All
# numbers come from the client's JSON: end.sum_received is what the server
# reported back (received = packets - lost_packets, its bytes and seconds),
# end.sum_sent.packets is what the client sent. (iperf3 3.12's own server
# JSON has end.sum.bytes = 0 for UDP, so it is kept only as raw output.)
scen_iperf3() {
	local round=$1 size=$2 base spid cpid src=0 crc=0
	base=$RAW/r$round-iperf3-$size
	next_port || { record_fail "$round" iperf3 "$size" "no free port"; return 0; }
	start_bg "$base.server.json" "$base.server.err" "$PROC_LIMIT" iperf3 -s -1 -B 127.0.0.1 -p "$PORT" -J
	spid=$LAST_PID
	if ! wait_bound tcp "$PORT" "$spid"; then
		wait_bounded "$spid" 1 || true
		record_fail "$round" iperf3 "$size" "iperf3 server did not listen on 127.0.0.1:$PORT"
		return 0
	fi
	start_bg "$base.client.json" "$base.client.err" "$PROC_LIMIT" \
		iperf3 -c 127.0.0.1 -B 127.0.0.1 -p "$PORT" -u -b 0 -l "$size" -t "$SECONDS_PER_RUN" -J
	cpid=$LAST_PID
	wait_bounded "$cpid" "$PROC_LIMIT" || crc=$?
	wait_bounded "$spid" 5 || src=$?
	if ((src || crc)); then
		record_fail "$round" iperf3 "$size" "client exit $crc, server exit $src: $(jq -r '.error // empty' "$base.client.json" "$base.server.json" 2>/dev/null | head -c 300)"
		return 0
	fi
	local line sent
	# CPU: iperf3 reports each side's CPU as a percentage of the test time.
	if line=$(jq -er '.end.sum_received as $r | .end.cpu_utilization_percent as $c
			| [($r.packets - $r.lost_packets), $r.bytes, $r.seconds, .end.sum_sent.packets,
			   ($c.remote_total // -100) / 100 * $r.seconds, ($c.host_total // -100) / 100 * .end.sum_sent.seconds]
			| map(numbers) | select(length == 6) | @tsv' "$base.client.json" 2>/dev/null); then
		local rec bytes secs rcpu scpu
		IFS=$'\t' read -r rec bytes secs sent rcpu scpu <<<"$line"
		record "$round" iperf3 "$size" "$rec" "$bytes" "$secs" "$sent" "$rcpu" "$scpu"
	else
		record_fail "$round" iperf3 "$size" "no usable end.sum_received/sum_sent in $base.client.json"
	fi
}

# socat as the receiver: the C flood (a sender whose count is known; socat
# reports none) -> `socat -u UDP4-RECV STDOUT` -> FIFO -> `udpref count`,
# which reads the FIFO in 1 MiB chunks and turns bytes into datagrams. socat
# pays what it pays in real use (select + recvfrom + write per datagram);
# the counter costs a read per ~1000 datagrams. socat's -T 0.5 ends it 0.5 s
# after the flood stops, which closes the FIFO and ends the counter (whose
# own --idle 3 is only a safety net: a counter that gave up while socat was
# merely descheduled would break socat's pipe).
scen_socat() {
	local round=$1 size=$2 base fifo zpid cpid fpid frc=0 zrc=0 crc=0
	base=$RAW/r$round-socat-$size
	fifo=$TMP/socat-$round-$size.fifo
	mkfifo "$fifo"
	next_port || { record_fail "$round" socat "$size" "no free port"; return 0; }
	# Open order: the counter opens the FIFO for reading, socat's stdout
	# opens it for writing; each open waits for the other.
	start_bg "$base.recv.json" "$base.count.err" "$PROC_LIMIT" \
		"$UDPREF" count --size "$size" --seconds "$RECV_WINDOW" --idle 3 --start-timeout 10 --input "$fifo"
	cpid=$LAST_PID
	start_bg "$fifo" "$base.socat.err" "$PROC_LIMIT" "${CPU_WRAP[@]}" "$base.socat.cpu" \
		socat -u -T 0.5 "UDP4-RECV:$PORT,bind=127.0.0.1" STDOUT
	zpid=$LAST_PID
	if ! wait_bound udp "$PORT" "$zpid"; then
		wait_bounded "$zpid" 1 || true
		wait_bounded "$cpid" 1 || true
		record_fail "$round" socat "$size" "socat did not bind 127.0.0.1:$PORT: $(head -c 300 "$base.socat.err")"
		return 0
	fi
	c_flood "$size"
	start_bg "$base.send.json" "$base.send.err" "$PROC_LIMIT" "${SCMD[@]//@PORT@/$PORT}"
	fpid=$LAST_PID
	wait_bounded "$fpid" "$PROC_LIMIT" || frc=$?
	wait_bounded "$zpid" "$PROC_LIMIT" || zrc=$?
	wait_bounded "$cpid" 5 || crc=$?
	rm -f -- "$fifo"
	if ((frc || zrc || crc)); then
		record_fail "$round" socat "$size" "sender exit $frc, socat exit $zrc, counter exit $crc"
		return 0
	fi
	local rec bytes secs sent rcpu scpu
	if rec=$(json "$base.recv.json" received) && bytes=$(json "$base.recv.json" bytes) &&
		secs=$(json "$base.recv.json" seconds) && sent=$(json "$base.send.json" sent) && ((rec > 0)); then
		scpu=$(json "$base.send.json" cpu_s) || scpu=-1
		# The receiver's CPU is socat's alone; the counter's is not counted.
		rcpu=$(cpu_file "$base.socat.cpu") || rcpu=-1
		record "$round" socat "$size" "$rec" "$bytes" "$secs" "$sent" "$rcpu" "$scpu"
	else
		record_fail "$round" socat "$size" "no usable result in $base.{recv,send}.json"
	fi
}

# C echo server + C ping: one datagram in flight, round trip in microseconds.
scen_echo() {
	local round=$1 size=$2 base epid ppid erc=0 prc=0
	base=$RAW/r$round-echo-$size
	next_port || { echo "  round $round echo $size B: no free port" >&2; return 0; }
	start_bg "$base.echo.json" "$base.echo.err" "$PROC_LIMIT" "$UDPREF" echo "$PORT" --seconds "$PROC_LIMIT" --idle 0.3
	epid=$LAST_PID
	if ! wait_bound udp "$PORT" "$epid"; then
		wait_bounded "$epid" 1 || true
		printf '%s\t%s\t0\t0\t0\tfail\t0\n' "$round" "$size" >>"$RTT"
		echo "  round $round echo $size B: FAILED: echo server did not bind" >&2
		return 0
	fi
	start_bg "$base.ping.json" "$base.ping.err" "$PROC_LIMIT" \
		"$UDPREF" ping 127.0.0.1 "$PORT" --count "$PING_COUNT" --size "$size" --warmup 200 --timeout-ms 200 --seconds 10
	ppid=$LAST_PID
	wait_bounded "$ppid" "$PROC_LIMIT" || prc=$?
	wait_bounded "$epid" 5 || erc=$?
	local med p99 lost min
	if ((prc == 0 && erc == 0)) && med=$(json "$base.ping.json" median_us) && p99=$(json "$base.ping.json" p99_us) &&
		lost=$(json "$base.ping.json" lost) && min=$(json "$base.ping.json" min_us); then
		printf '%s\t%s\t%s\t%s\t%s\tok\t%s\n' "$round" "$size" "$med" "$p99" "$lost" "$min" >>"$RTT"
		printf '  round %s  %-11s %5s B  median %8.1f us  p99 %8.1f us  lost %s\n' "$round" echo "$size" "$med" "$p99" "$lost" >&2
	else
		printf '%s\t%s\t0\t0\t0\tfail\t0\n' "$round" "$size" >>"$RTT"
		echo "  round $round echo $size B: FAILED: ping exit $prc, echo exit $erc: $(head -c 300 "$base.ping.err")" >&2
	fi
}

# ======================================================================
# bcast_rows: THE ONE PLACE THAT KNOWS HOW TO INVOKE bcast.
# The bcast engineers own this function. It is called once per round and
# size, after the reference scenarios, and only when bench/out/bcast was
# built from ./cmd/bcast. The row is real or absent, never estimated: if
# bcast fails or its output lacks the numbers, the run is recorded as
# FAILED with the reason, and the table says so.
#
# Written against the CLI of ./cmd/bcast as of 2026-11-24:
#   bcast listen --listen 127.0.0.1:PORT --idle 500ms --timeout D --quiet --json
#       ends 0.5 s after the last datagram and prints a JSON line
#       {"type":"summary","received","bytes","elapsed_s","kernel_drops",...};
#   bcast send --to 127.0.0.1:PORT --size B --count 0 --interval 0 --quiet --json
#       floods until Ctrl-C (SIGINT from `timeout -s INT`), then prints
#       {"type":"summary","sent","bytes","elapsed_s",...}.
# bcast_normalize turns those into the measure_pair form. listen's
# elapsed_s runs from its start to its end, so seconds = elapsed_s - idle
# still includes the wait for the first datagram (the harness starts the
# sender within ~0.1 s of the bind): bcast pps is understated by up to ~3%
# at 3 s runs. A "first_s"/"last_s" pair in the summary would remove that.
# CPU comes from CPU_WRAP: bcast does not report its own.
# ======================================================================
bcast_rows() {
	local round=$1 size=$2
	normalize_bcast() {
		local r s
		r=$(jq -ec 'select(.type == "summary") | {received, bytes, seconds: (.elapsed_s - 0.5), kernel_drops}' "$1" 2>/dev/null) &&
			s=$(jq -ec 'select(.type == "summary") | {sent, bytes, seconds: .elapsed_s, errors}' "$2" 2>/dev/null) || return 1
		printf '%s\n' "$r" >"$1"
		printf '%s\n' "$s" >"$2"
	}
	measure_pair "$round" bcast "$size" \
		"${CPU_WRAP[@]}" @RCPU@ "$OUT/bcast" listen --listen 127.0.0.1:@PORT@ --idle 500ms --timeout "$((RECV_WINDOW + 2))s" --quiet --json \
		-- "${CPU_WRAP[@]}" @SCPU@ timeout --preserve-status -s INT "$SECONDS_PER_RUN" \
		"$OUT/bcast" send --to 127.0.0.1:@PORT@ --size "$size" --count 0 --interval 0 --quiet --json
}

# ---------------------------------------------------------------- setup
ensure_tools() {
	local need=()
	command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
	command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
	command -v socat >/dev/null 2>&1 || need+=(socat)
	command -v jq >/dev/null 2>&1 || need+=(jq)
	command -v go >/dev/null 2>&1 || { echo "run.sh: go is not on PATH; it builds bench/goref and cmd/bcast" >&2; exit 1; }
	if ((${#need[@]})); then
		if [[ $(id -u) -ne 0 ]]; then
			echo "run.sh: missing ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
			exit 1
		fi
		echo "run.sh: installing ${need[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	fi
}

BCAST_SKIP=
build() {
	mkdir -p "$OUT" "$RAW"
	rm -f -- "$RAW"/* "$RUNS" "$RTT"
	gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$UDPREF" "$HERE/c/udpref.c" -lm
	(cd "$ROOT" && go build -o "$GOREF" ./bench/goref)
	# go build will not overwrite a file that is not an object file.
	rm -f -- "$OUT/bcast"
	if [[ -d $ROOT/cmd/bcast ]]; then
		if ! (cd "$ROOT" && go build -o "$OUT/bcast" ./cmd/bcast) 2>"$TMP/bcast-build.err"; then
			rm -f -- "$OUT/bcast"
			BCAST_SKIP="go build ./cmd/bcast failed: $(grep -v '^#' "$TMP/bcast-build.err" | head -n 2 | tr '\n' ' ' | head -c 240)"
		fi
	else
		BCAST_SKIP="./cmd/bcast does not exist yet"
	fi
}

# ---------------------------------------------------------------- report
machine_facts() {
	local cpu gomax
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	gomax=$("$GOREF" info | jq -r '.gomaxprocs')
	cat <<EOF
- date: $(date -u '+%Y-%m-%d %H:%M UTC')
- kernel: $(uname -r); CPU: ${cpu:-unknown}; nproc: $(nproc); GOMAXPROCS: $gomax; $(go env GOVERSION)
- load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)$(awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { if (l > 0.5) print " (other work was running: expect noisy pps)" }')
- net.core.rmem_default: $(cat /proc/sys/net/core/rmem_default) (no run changes socket buffers)
- iperf3 $(iperf3 --version 2>/dev/null | awk 'NR==1 { print $2 }'), socat $(socat -V 2>/dev/null | awk '/socat version/ { print $3; exit }'), gcc $(gcc -dumpversion)
- rounds: $ROUNDS, $SECONDS_PER_RUN s per run, sizes: ${SIZES[*]} B, ping count: $PING_COUNT; nothing pinned: sender and receiver share 2 cores
EOF
}

LABELS=(
	"cpair|C sendmmsg -> C recvmmsg (the limit)"
	"iperf3|iperf3 -u -b 0 -> iperf3 -s"
	"socat|C flood -> socat UDP4-RECV -> pipe"
	"gopair|Go WriteToUDP -> Go ReadFromUDP"
	"drain_c|drain: C flood -> C recvmmsg"
	"drain_go|drain: C flood -> Go ReadFromUDP"
	"drain_xnet|drain: C flood -> x/net ReadBatch"
	"gso|C GSO sendmmsg -> C GRO recvmmsg"
	"bcast|bcast send -> bcast listen"
)

table() {
	local labels
	labels=$(printf '%s\n' "${LABELS[@]}")
	awk -F'\t' -v labels="$labels" -v sizes="${SIZES[*]}" -v rounds="$ROUNDS" '
	function median(list,    n, v, i, j, t) {
		n = split(list, v, " ")
		for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	FNR == NR {
		k = $2 SUBSEP $3; seen[k] = 1
		if ($8 != "ok") next
		ok[k]++
		pps[k] = pps[k] " " ($6 > 0 ? $4 / $6 : 0)
		mbs[k] = mbs[k] " " ($6 > 0 ? $5 / $6 / 1e6 : 0)
		l = $7 > 0 ? 100 * ($7 - $4) / $7 : 0; if (l < 0) l = 0
		loss[k] = loss[k] " " l
		if ($9 >= 0 && $4 > 0) { rc[k] = rc[k] " " 1e9 * $9 / $4 }
		if ($10 >= 0 && $7 > 0) { scc[k] = scc[k] " " 1e9 * $10 / $7 }
		next
	}
	END {
		nl = split(labels, L, "\n"); ns = split(sizes, S, " ")
		print "| scenario | size | median pps | median MB/s | loss % | vs C pair | recv CPU ns/dgram | send CPU ns/dgram | runs ok |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= nl; i++) {
			split(L[i], f, "|"); id = f[1]; name = f[2]
			for (j = 1; j <= ns; j++) {
				k = id SUBSEP S[j]
				if (!(k in seen)) continue
				if (!ok[k]) { printf "| %s | %s B | failed | | | | | | 0/%d |\n", name, S[j], rounds; continue }
				p = median(pps[k])
				c = ("cpair" SUBSEP S[j]) in ok ? median(pps["cpair" SUBSEP S[j]]) : 0
				printf "| %s | %s B | %.0f | %.1f | %.1f | %s | %s | %s | %d/%d |\n", name, S[j], p, median(mbs[k]), median(loss[k]),
					(c > 0 ? sprintf("%.2f", p / c) : "n/a"),
					(k in rc ? sprintf("%.0f", median(rc[k])) : "-"), (k in scc ? sprintf("%.0f", median(scc[k])) : "-"),
					ok[k], rounds
			}
		}
	}' "$RUNS"
	if [[ -s $RTT ]]; then
		echo
		echo "| round trip (C echo <-> C ping, 1 in flight) | size | min us | median us | p99 us | lost | runs ok |"
		echo "|---|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' -v rounds="$ROUNDS" '
		function median(list,    n, v, i, j, t) {
			n = split(list, v, " ")
			for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
			return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		}
		{ if (!($2 in order)) { order[$2] = ++no; sz[no] = $2 } }
		$6 == "ok" { ok[$2]++; med[$2] = med[$2] " " $3; p99[$2] = p99[$2] " " $4; lost[$2] += $5; mn[$2] = mn[$2] " " $7 }
		END {
			for (i = 1; i <= no; i++) {
				s = sz[i]
				if (!ok[s]) { printf "| C echo | %s B | failed | | | | 0/%d |\n", s, rounds; continue }
				printf "| C echo | %s B | %.1f | %.1f | %.1f | %d | %d/%d |\n", s, median(mn[s]), median(med[s]), median(p99[s]), lost[s], ok[s], rounds
			}
		}' "$RTT"
	fi
}

# ---------------------------------------------------------------- main
main() {
	local t_start=$SECONDS
	ensure_tools
	build
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

	local -a scenarios=(cpair iperf3 socat gopair drain_c drain_go drain_xnet gso)
	local per_round=$(( ${#scenarios[@]} * ${#SIZES[@]} ))
	if [[ -z $BCAST_SKIP ]]; then
		per_round=$((per_round + ${#SIZES[@]}))
	else
		echo "bcast rows skipped: $BCAST_SKIP" >&2
	fi
	# Budget: each pair run is the flood plus ~1 s of start-up and idle
	# detection (iperf3 and socat a little more); each echo run stays under
	# ~2 s at the default PING_COUNT.
	local budget
	budget=$(awk -v r="$ROUNDS" -v n="$per_round" -v s="$SECONDS_PER_RUN" -v e="${#SIZES[@]}" -v p="$PING_COUNT" \
		'BEGIN { printf "%d", r * (n * (s + 1.2) + e * (0.5 + p * 0.00005)) }')
	echo "run.sh: $ROUNDS round(s) x $per_round runs of ${SECONDS_PER_RUN}s + echo: about ${budget}s" >&2
	((budget <= 290)) || echo "run.sh: warning: that exceeds the 5-minute budget of a default run" >&2

	local round scen size
	for ((round = 1; round <= ROUNDS; round++)); do
		echo "round $round/$ROUNDS" >&2
		for scen in "${scenarios[@]}"; do
			for size in "${SIZES[@]}"; do
				"scen_$scen" "$round" "$size"
			done
		done
		if [[ -z $BCAST_SKIP ]]; then
			for size in "${SIZES[@]}"; do bcast_rows "$round" "$size"; done
		fi
		for size in "${SIZES[@]}"; do scen_echo "$round" "$size"; done
	done

	{
		echo "## bcast bench: loopback, one sender process -> one receiver process"
		echo
		machine_facts
		echo
		table
		echo
		if [[ -n $BCAST_SKIP ]]; then echo "bcast rows: skipped ($BCAST_SKIP)."; fi
		echo "pps = datagrams the receiver got per second (first to last datagram); MB/s = their payload bytes (10^6);"
		echo "loss = 1 - received / sent; vs C pair = median pps / median pps of the C pair at the same size;"
		echo "CPU ns/dgram = that process's user+system CPU time / datagrams it received (recv) or sent (send); medians of $ROUNDS round(s)."
	} >"$OUT/results.md"
	cat "$OUT/results.md"
	echo "run.sh: done in $((SECONDS - t_start))s; raw results in $RAW, table in $OUT/results.md" >&2
}

main "$@"
