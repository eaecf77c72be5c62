#!/usr/bin/env bash
# bench/run.sh: the measuring stick for bcast's datagram speed on loopback.
#
#   bash bench/run.sh                 quick speed table (the default; QUICK=1 says the same)
#   bash bench/run.sh --full          full speed table (FULL=1 says the same)
#   bash bench/run.sh --throughput    the unpinned flood table (THROUGHPUT=1)
#   bash bench/run.sh --only recv,echo,send,idle   some sections of the speed table
#
# The speed table (issue 17) has four sections, each against plain C:
#   recv  receiver CPU per datagram under a paced stream (64 B at 200k/s
#         from udpref send --rate): C recvmmsg, bcast listen --quiet (and
#         --seq), the library Receiver with all metadata (bench/librecv);
#   echo  round trips with one request in flight: C echo, bcast echo and the
#         listen daemon as servers; the C client and bcast ping
#         --back-to-back as clients; sockperf's own pair; client and server
#         on the same core and on different cores;
#   send  sender CPU per datagram at 50k/s and 100k/s paced: udpref send
#         against bcast send --rate;
#   idle  the listen daemon's RSS with 0 to 10,000 idle TCP clients
#         (bench/idle.sh).
# Senders are pinned to CPU 0, receivers and servers to CPU 1. Every row
# runs once per round, in an order that rotates from round to round;
# quick mode runs 5 rounds of shorter runs (under 5 minutes), full mode
# 21 rounds. The table gives medians with a distribution-free 95 %
# interval and per-round ratios to C (bench/speedstat), with the machine
# it ran on; bench/out/results.md keeps it, bench/out/samples.tsv and
# bench/out/raw/ every figure and every run's output.
#
# The throughput table (--throughput) is the older one: every sender ->
# receiver pair (C, iperf3, socat, Go, bcast) flooding on loopback,
# unpinned, in bench/out/throughput/. It takes 3.5 minutes of its own and
# measures peak rate rather than cost, so it is a mode apart.
#
# Environment (speed modes; the defaults are quick's, then full's):
#   ROUNDS=5|21            rounds
#   RECV_RATE=200000       datagrams a second of the receiver-CPU stream
#   RECV_COUNT=400000|600000  datagrams per receiver-CPU run
#   SEND_SECONDS=2|3       length of a send-CPU run
#   PING_COUNT=10000|20000 round trips per echo run (after 1000 warm-up)
#   SOCKPERF_SECONDS=2|3   sockperf ping-pong -t (it keeps about half of it)
#   IDLE_RUNS=1|3          runs of bench/idle.sh (0: none)
#   OLD_BCAST=PATH         adds a receiver-CPU row for another bcast binary
# Throughput mode: ROUNDS=3, SECONDS_PER_RUN=3, PING_COUNT=20000.
#
# Every process runs under `timeout`, is waited for with a bounded wait,
# and is killed by PID on exit; only 127.0.0.1 is used.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=$HERE/out

usage() {
	sed -n '3,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

MODE=quick
[[ ${QUICK:-0} == 1 && ${FULL:-0} == 1 ]] && { echo "run.sh: QUICK=1 and FULL=1 contradict each other" >&2; exit 2; }
[[ ${FULL:-0} == 1 ]] && MODE=full
[[ ${THROUGHPUT:-0} == 1 ]] && MODE=throughput
SECTIONS=${SECTIONS:-recv,echo,send,idle}
while (($#)); do
	case $1 in
	--quick) MODE=quick ;;
	--full) MODE=full ;;
	--throughput) MODE=throughput ;;
	--only)
		(($# >= 2)) || { echo "run.sh: --only needs a list of sections (recv,echo,send,idle)" >&2; exit 2; }
		SECTIONS=$2
		shift
		;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown argument '$1'" >&2; usage ;;
	esac
	shift
done
[[ $SECTIONS =~ ^(recv|echo|send|idle)(,(recv|echo|send|idle))*$ ]] ||
	{ echo "run.sh: --only/SECTIONS: want a comma-separated list of recv, echo, send, idle; got '$SECTIONS'" >&2; exit 2; }
# has_section NAME: NAME was asked for.
has_section() { [[ ,$SECTIONS, == *,$1,* ]]; }

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
	timeout -k 2 "$limit" "$@" </dev/null >"$out" 2>"$err" &
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

# ======================================================================
# Throughput mode: every sender -> receiver pair flooding on loopback,
# unpinned, at 64 and 1400 B.
# ======================================================================
SIZES=(64 1400)

throughput_settings() {
	RAW=$TP/raw
	ROUNDS=${ROUNDS:-3}
	SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
	PING_COUNT=${PING_COUNT:-20000}
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
}

# ---------------------------------------------------------------- results
# runs.tsv: round scenario size received bytes seconds sent status
#           recv_cpu_s send_cpu_s (-1: not known)
# rtt.tsv:  round size median_us p99_us lost status min_us
TP=$OUT/throughput
RUNS=$TP/runs.tsv
RTT=$TP/rtt.tsv

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
#   bcast send --to 127.0.0.1:PORT --iface lo --size B --count 0 --interval 0 --quiet --json
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
		"$OUT/bcast" send --to 127.0.0.1:@PORT@ --iface lo --size "$size" --count 0 --interval 0 --quiet --json
}


# ======================================================================
# Speed mode (quick and full): receiver CPU, echo round trips, send CPU,
# idle clients. Each run's figures become lines of $SAMPLES_TSV (round, row,
# metric, value); bench/speedstat turns them into medians with intervals
# and per-round ratios. A run that fails is recorded in $FAILURES_TSV with
# its reason and left out; nothing is ever filled in.
# ======================================================================
# Not SAMPLES: bench/idle.sh reads a SAMPLES of its own from the environment.
SAMPLES_TSV=$OUT/samples.tsv
FAILURES_TSV=$OUT/failures.tsv
LIBRECV=$OUT/librecv
SPEEDSTAT=$OUT/speedstat
BCAST=$OUT/bcast
LISTEND=$OUT/listen
SEND_RATES=(50000 100000)

speed_settings() {
	RAW=$OUT/raw
	if [[ $MODE == full ]]; then
		ROUNDS=${ROUNDS:-21}
		RECV_COUNT=${RECV_COUNT:-600000}
		SEND_SECONDS=${SEND_SECONDS:-3}
		PING_COUNT=${PING_COUNT:-20000}
		SOCKPERF_SECONDS=${SOCKPERF_SECONDS:-3}
		IDLE_RUNS=${IDLE_RUNS:-3}
	else
		ROUNDS=${ROUNDS:-5}
		RECV_COUNT=${RECV_COUNT:-400000}
		SEND_SECONDS=${SEND_SECONDS:-2}
		PING_COUNT=${PING_COUNT:-10000}
		SOCKPERF_SECONDS=${SOCKPERF_SECONDS:-2}
		IDLE_RUNS=${IDLE_RUNS:-1}
	fi
	RECV_RATE=${RECV_RATE:-200000}
	OLD_BCAST=${OLD_BCAST:-}
	local bad=
	[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || bad="ROUNDS must be 1..99, got '$ROUNDS'"
	[[ $RECV_RATE =~ ^[1-9][0-9]{3,6}$ ]] || bad="RECV_RATE must be 1000..9999999 datagrams a second, got '$RECV_RATE'"
	[[ $RECV_COUNT =~ ^[1-9][0-9]{3,7}$ ]] || bad="RECV_COUNT must be 1000..99999999, got '$RECV_COUNT'"
	[[ $SEND_SECONDS =~ ^[1-9][0-9]?$ ]] || bad="SEND_SECONDS must be 1..99, got '$SEND_SECONDS'"
	[[ $PING_COUNT =~ ^[1-9][0-9]{2,6}$ ]] || bad="PING_COUNT must be 100..9999999, got '$PING_COUNT'"
	[[ $SOCKPERF_SECONDS =~ ^[1-9][0-9]?$ ]] || bad="SOCKPERF_SECONDS must be 1..99, got '$SOCKPERF_SECONDS'"
	[[ $IDLE_RUNS =~ ^[0-9]$ ]] || bad="IDLE_RUNS must be 0..9, got '$IDLE_RUNS'"
	[[ -z $OLD_BCAST || -x $OLD_BCAST ]] || bad="OLD_BCAST=$OLD_BCAST is not an executable"
	[[ -z $bad ]] || { echo "run.sh: $bad" >&2; exit 2; }
	# Whole seconds the receiver-CPU stream lasts, rounded up.
	RECV_SECONDS=$(((RECV_COUNT + RECV_RATE - 1) / RECV_RATE))
	((RECV_SECONDS <= 60)) || { echo "run.sh: RECV_COUNT / RECV_RATE is over 60 s" >&2; exit 2; }
	# Caps for processes that hang; a run normally ends long before.
	RECV_LIMIT=$((RECV_SECONDS + 15))
	SEND_LIMIT=$((SEND_SECONDS + 15))
	PING_LIMIT=60
	ECHO_LIMIT=$((PING_LIMIT + 15))
	IDLE_LIMIT=${IDLE_LIMIT:-300}
	[[ $IDLE_LIMIT =~ ^[1-9][0-9]{0,3}$ ]] || { echo "run.sh: IDLE_LIMIT must be 1..9999 seconds, got '$IDLE_LIMIT'" >&2; exit 2; }
}

# sample ROUND ROW METRIC VALUE: one figure of one run.
sample() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$SAMPLES_TSV"; }

# cpu_samples ROUND ROW USER_S SYS_S PER RECEIVED SENT: records a run's CPU
# per datagram of PER (what a receiver received, what a sender sent), split
# in user and system, and the share of SENT that was RECEIVED; prints the
# CPU ns a datagram for the progress line.
cpu_samples() {
	local cpu_ns
	cpu_ns=$(per_dgram "$(awk -v u="$3" -v s="$4" 'BEGIN { print u + s }')" "$5")
	sample "$1" "$2" cpu_ns "$cpu_ns"
	sample "$1" "$2" user_ns "$(per_dgram "$3" "$5")"
	sample "$1" "$2" sys_ns "$(per_dgram "$4" "$5")"
	sample "$1" "$2" recv_pct "$(pct "$6" "$7")"
	echo "$cpu_ns"
}

# run_failed ROUND ROW REASON: record and say why a run gave no figures.
run_failed() {
	local why
	why=$(printf '%s' "$3" | tr '\n\t' '  ' | cut -c1-400)
	printf '%s\t%s\t%s\n' "$1" "$2" "$why" >>"$FAILURES_TSV"
	printf '  round %-2s %-28s FAILED: %s\n' "$1" "$2" "$why" >&2
}

# jnum FILE FILTER: the number jq's FILTER yields from FILE (the last one,
# for a file of JSON lines), or fail.
jnum() {
	local v
	v=$(jq -r "$2 | numbers" "$1" 2>/dev/null | tail -n 1) || return 1
	[[ -n $v ]] || return 1
	printf '%s\n' "$v"
}

# per_dgram SECONDS COUNT: nanoseconds per datagram.
per_dgram() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f\n", 1e9 * s / n }'; }
# pct A B: 100 A / B.
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b > 0 ? 100 * a / b : 0) }'; }

# alive PID: PID runs and has not yet exited (a zombie waiting to be reaped
# does not count).
alive() { [[ -r /proc/$1/stat ]] && ! awk '{ exit ($3 != "Z") }' "/proc/$1/stat" 2>/dev/null; }

# stop_bg PID: TERM it (timeout passes the signal on) and reap it.
stop_bg() {
	kill -TERM "$1" 2>/dev/null || true
	wait_bounded "$1" 3 || true
}

# rotate N ITEMS...: the items, starting at the (N mod count)th, so each
# round starts its section with another row.
ROTATED=()
rotate() {
	local n=$1
	shift
	local -a items=("$@")
	local k=${#items[@]} i
	ROTATED=()
	for ((i = 0; i < k; i++)); do ROTATED+=("${items[(i + n) % k]}"); done
}

# stream ROUND ROW LIMIT RCMD... @SENDER@ SCMD...: the receiver, pinned to
# CPU 1, and once it has bound the port, the sender, pinned to CPU 0. In
# either command "@PORT@" becomes a fresh port and "@RUN@" the run's file
# prefix ($RUN, also set for the caller, whose outputs are
# $RUN.{recv,send}.{out,err}). Returns 1, the failure recorded, when
# either side failed.
RUN=
stream() {
	local round=$1 row=$2 limit=$3 rpid spid rrc=0 src=0
	shift 3
	local -a rcmd=() scmd=()
	# Not "--": udpref cpu takes the command it measures after one.
	while (($#)) && [[ $1 != @SENDER@ ]]; do rcmd+=("$1"); shift; done
	(($#)) && shift
	scmd=("$@")
	next_port || { run_failed "$round" "$row" "no free port"; return 1; }
	RUN=$RAW/r$round-${row//\//_}
	rcmd=("${rcmd[@]//@PORT@/$PORT}")
	rcmd=("${rcmd[@]//@RUN@/$RUN}")
	scmd=("${scmd[@]//@PORT@/$PORT}")
	scmd=("${scmd[@]//@RUN@/$RUN}")
	start_bg "$RUN.recv.out" "$RUN.recv.err" "$limit" taskset -c 1 "${rcmd[@]}"
	rpid=$LAST_PID
	if ! wait_bound udp "$PORT" "$rpid"; then
		wait_bounded "$rpid" 1 || true
		run_failed "$round" "$row" "receiver did not bind 127.0.0.1:$PORT: $(head -c 300 "$RUN.recv.err")"
		return 1
	fi
	# Bound is not yet receiving: give a Go program time to reach its loop.
	sleep 0.1
	start_bg "$RUN.send.out" "$RUN.send.err" "$limit" taskset -c 0 "${scmd[@]}"
	spid=$LAST_PID
	wait_bounded "$spid" "$limit" || src=$?
	wait_bounded "$rpid" "$limit" || rrc=$?
	if ((src || rrc)); then
		run_failed "$round" "$row" "sender exit $src, receiver exit $rrc: $(cat "$RUN.send.err" "$RUN.recv.err" | head -c 300)"
		return 1
	fi
}

# ---------------------------------------------------------------- recv
# Receivers stop 0.3 s after the last datagram; --seconds/--timeout only
# catch a sender that hangs. bcast prints no CPU time of its own: it runs
# under `udpref cpu`, which writes its rusage to @RUN@.recv.cpu.
recv_rows() {
	RECV_ROWS=(recv/c)
	if [[ -z $BCAST_SKIP ]]; then RECV_ROWS+=(recv/listen recv/listen-seq); fi
	RECV_ROWS+=(recv/librecv)
	if [[ -n $OLD_BCAST ]]; then RECV_ROWS+=(recv/old); fi
}

recv_run() { # ROUND ROW
	local round=$1 row=$2 window=$((RECV_SECONDS + 3)) kind=self
	local -a rcmd
	case $row in
	recv/c) rcmd=("$UDPREF" recv @PORT@ --size 64 --batch 64 --seconds "$window" --idle 0.3 --start-timeout 5) ;;
	recv/librecv) rcmd=("$LIBRECV" @PORT@ --seconds "$window" --idle 0.3 --start-timeout 5) ;;
	recv/listen | recv/listen-seq | recv/old)
		local bin=$BCAST
		[[ $row == recv/old ]] && bin=$OLD_BCAST
		rcmd=("$UDPREF" cpu --out @RUN@.recv.cpu -- "$bin" listen --listen 127.0.0.1:@PORT@ --quiet --json --no-progress
			--idle 300ms --timeout "$((window + 5))s")
		[[ $row == recv/listen-seq ]] && rcmd+=(--seq)
		kind=wrapped
		;;
	esac
	stream "$round" "$row" "$RECV_LIMIT" "${rcmd[@]}" @SENDER@ \
		"$UDPREF" send 127.0.0.1 @PORT@ --size 64 --rate "$RECV_RATE" --count "$RECV_COUNT" --seconds "$RECV_LIMIT" --seq || return 0
	local sent rec user sys calls=
	if [[ $kind == self ]]; then
		rec=$(jnum "$RUN.recv.out" .received) && user=$(jnum "$RUN.recv.out" .user_s) &&
			sys=$(jnum "$RUN.recv.out" .sys_s) && calls=$(jnum "$RUN.recv.out" .calls) || rec=
	else
		rec=$(jnum "$RUN.recv.out" 'select(.type == "summary") | .received') &&
			user=$(jnum "$RUN.recv.cpu" .user_s) && sys=$(jnum "$RUN.recv.cpu" .sys_s) || rec=
	fi
	sent=$(jnum "$RUN.send.out" .sent) || sent=
	if [[ -z $rec || -z $sent ]] || ((rec == 0)); then
		run_failed "$round" "$row" "no received/sent/CPU figures in $RUN.{recv,send}.out or .recv.cpu"
		return 0
	fi
	local cpu_ns
	cpu_ns=$(cpu_samples "$round" "$row" "$user" "$sys" "$rec" "$rec" "$sent")
	[[ -n $calls ]] && sample "$round" "$row" dgrams_per_call "$(awk -v r="$rec" -v c="$calls" 'BEGIN { printf "%.2f\n", (c > 0 ? r / c : 0) }')"
	printf '  round %-2s %-28s %8s ns/datagram  received %s of %s\n' "$round" "$row" "$cpu_ns" "$rec" "$sent" >&2
}

# ---------------------------------------------------------------- send
# Senders, pinned to CPU 0, pace SEND_SECONDS worth of 64-byte datagrams
# at each rate to a C receiver on CPU 1.
send_rows() {
	SEND_ROWS=()
	local r
	for r in "${SEND_RATES[@]}"; do
		SEND_ROWS+=("send/c/$r")
		[[ -z $BCAST_SKIP ]] && SEND_ROWS+=("send/bcast/$r")
	done
}

send_run() { # ROUND ROW
	local round=$1 row=$2 rate=${2##*/} n
	n=$((rate * SEND_SECONDS))
	local -a scmd
	if [[ $row == send/c/* ]]; then
		scmd=("$UDPREF" send 127.0.0.1 @PORT@ --size 64 --rate "$rate" --count "$n" --seconds "$SEND_LIMIT")
	else
		scmd=("$UDPREF" cpu --out @RUN@.send.cpu -- "$BCAST" send --to 127.0.0.1:@PORT@ --iface lo --message bench --size 64
			--count "$n" --rate "$rate" --quiet --json --no-progress)
	fi
	stream "$round" "$row" "$SEND_LIMIT" "$UDPREF" recv @PORT@ --size 64 --batch 64 --seconds "$((SEND_SECONDS + 3))" \
		--idle 0.3 --start-timeout 5 @SENDER@ "${scmd[@]}" || return 0
	local sent rec user sys
	if [[ $row == send/c/* ]]; then
		sent=$(jnum "$RUN.send.out" .sent) && user=$(jnum "$RUN.send.out" .user_s) && sys=$(jnum "$RUN.send.out" .sys_s) || sent=
	else
		sent=$(jnum "$RUN.send.out" 'select(.type == "summary") | .sent') &&
			user=$(jnum "$RUN.send.cpu" .user_s) && sys=$(jnum "$RUN.send.cpu" .sys_s) || sent=
	fi
	rec=$(jnum "$RUN.recv.out" .received) || rec=
	if [[ -z $sent || -z $rec ]] || ((sent == 0)); then
		run_failed "$round" "$row" "no sent/received/CPU figures in $RUN.{send,recv}.out or .send.cpu"
		return 0
	fi
	local cpu_ns
	cpu_ns=$(cpu_samples "$round" "$row" "$user" "$sys" "$sent" "$rec" "$sent")
	printf '  round %-2s %-28s %8s ns/datagram  sent %s, received %s\n' "$round" "$row" "$cpu_ns" "$sent" "$rec" >&2
}

# ---------------------------------------------------------------- echo
# Rows echo/SERVER-CLIENT/PLACE: the server pinned to CPU 1, the client to
# CPU 1 too (same) or CPU 0 (cross). Servers: c (udpref echo), becho (bcast
# echo), daemon (the listen daemon), sockperf; clients: c (udpref ping),
# bping (bcast ping --back-to-back), sockperf (only with its own server:
# its ping-pong speaks sockperf's protocol).
ECHO_PAIRS=(c-c becho-c daemon-c c-bping becho-bping daemon-bping sockperf-sockperf)

echo_rows() {
	ECHO_ROWS=()
	local place pair
	for place in same cross; do
		for pair in "${ECHO_PAIRS[@]}"; do
			[[ -n $(echo_skip "$pair") ]] && continue
			ECHO_ROWS+=("echo/$pair/$place")
		done
	done
}

# echo_skip PAIR: why the pair cannot run here, or nothing.
echo_skip() {
	local server=${1%-*} client=${1#*-}
	case $server in
	becho) [[ -n $BCAST_SKIP ]] && { echo "$BCAST_SKIP"; return; } ;;
	daemon) [[ -n $LISTEN_SKIP ]] && { echo "$LISTEN_SKIP"; return; } ;;
	sockperf) [[ -n $SOCKPERF_SKIP ]] && { echo "$SOCKPERF_SKIP"; return; } ;;
	esac
	if [[ $client == bping ]]; then
		if [[ -n $BCAST_SKIP ]]; then echo "$BCAST_SKIP"; elif [[ -n $BPING_SKIP ]]; then echo "$BPING_SKIP"; fi
	fi
	return 0
}

echo_run() { # ROUND ROW
	local round=$1 row=$2 pair=${2#echo/}
	local place=${pair#*/}
	pair=${pair%/*}
	local server=${pair%-*} client=${pair#*-} ccpu=1 spid cpid crc=0 up
	[[ $place == cross ]] && ccpu=0
	local -a scmd ccmd
	case $server in
	c) scmd=("$UDPREF" echo @PORT@ --seconds "$ECHO_LIMIT" --idle "$ECHO_LIMIT") ;;
	becho) scmd=("$BCAST" echo --listen 127.0.0.1:@PORT@ --quiet --timeout "${ECHO_LIMIT}s") ;;
	daemon) scmd=("$LISTEND" --udp 127.0.0.1:@PORT@ --log-level warn) ;;
	sockperf) scmd=(sockperf server -i 127.0.0.1 -p @PORT@) ;;
	esac
	case $client in
	c) ccmd=("$UDPREF" ping 127.0.0.1 @PORT@ --count "$PING_COUNT" --size 64 --warmup 1000 --timeout-ms 200 --seconds "$((PING_LIMIT - 5))") ;;
	bping) ccmd=("$BCAST" ping --back-to-back --to 127.0.0.1:@PORT@ --iface lo --count "$PING_COUNT" --size 64 --wait 200ms --quiet --json) ;;
	sockperf) ccmd=(sockperf ping-pong -i 127.0.0.1 -p @PORT@ -m 64 -t "$SOCKPERF_SECONDS" --full-rtt) ;;
	esac
	next_port || { run_failed "$round" "$row" "no free port"; return 0; }
	RUN=$RAW/r$round-${row//\//_}
	scmd=("${scmd[@]//@PORT@/$PORT}")
	ccmd=("${ccmd[@]//@PORT@/$PORT}")
	start_bg "$RUN.server.out" "$RUN.server.err" "$ECHO_LIMIT" taskset -c 1 "${scmd[@]}"
	spid=$LAST_PID
	if ! wait_bound udp "$PORT" "$spid"; then
		wait_bounded "$spid" 1 || true
		run_failed "$round" "$row" "server did not bind 127.0.0.1:$PORT: $(head -c 300 "$RUN.server.err")"
		return 0
	fi
	start_bg "$RUN.client.out" "$RUN.client.err" "$PING_LIMIT" taskset -c "$ccpu" "${ccmd[@]}"
	cpid=$LAST_PID
	wait_bounded "$cpid" "$PING_LIMIT" || crc=$?
	up=1
	alive "$spid" || up=0
	stop_bg "$spid"
	if ((crc)); then
		run_failed "$round" "$row" "client exit $crc: $(cat "$RUN.client.err" "$RUN.server.err" | head -c 300)"
		return 0
	fi
	if ((!up)); then
		run_failed "$round" "$row" "the server ended before the client: $(head -c 300 "$RUN.server.err")"
		return 0
	fi
	local line p50 p90 p99 p999 tps lost
	case $client in
	c) line=$(jq -er '[.p50_us, .p90_us, .p99_us, .p999_us, .transactions_per_s, .lost] | map(numbers) | select(length == 6) | @tsv' \
		"$RUN.client.out" 2>/dev/null) || line= ;;
	bping) line=$(bping_figures "$RUN.client.out") || line= ;;
	sockperf) line=$(sockperf_figures "$RUN.client.out") || line= ;;
	esac
	if [[ -z $line ]]; then
		run_failed "$round" "$row" "no round-trip figures in $RUN.client.out"
		return 0
	fi
	IFS=$'\t' read -r p50 p90 p99 p999 tps lost <<<"$line"
	sample "$round" "$row" p50_us "$p50"
	sample "$round" "$row" p90_us "$p90"
	sample "$round" "$row" p99_us "$p99"
	sample "$round" "$row" p999_us "$p999"
	sample "$round" "$row" tps "$tps"
	sample "$round" "$row" lost "$lost"
	printf '  round %-2s %-28s p50 %7s  p99 %7s  p99.9 %7s us  %9s/s  lost %s\n' "$round" "$row" "$p50" "$p99" "$p999" "$tps" "$lost" >&2
}

# bping_figures FILE: p50 p90 p99 p999 (us), transactions/s and lost from
# bcast ping --back-to-back --json's summary line. Written while that flag
# was being made, against the summary it was to have (and, in its work in
# progress, had): rtt_p50_ms, rtt_p90_ms, rtt_p99_ms, rtt_p999_ms,
# transactions_per_s (else received / elapsed_s) and missing. --wait 200ms
# gives up on a reply as the C client's --timeout-ms 200 does.
bping_figures() {
	jq -er 'select(.type == "summary")
		| [.rtt_p50_ms, .rtt_p90_ms, .rtt_p99_ms, .rtt_p999_ms] as $ms
		| ($ms | map(numbers) | length) as $k
		| select($k == 4)
		| ($ms | map(. * 1e6 | round / 1000)) + [(.transactions_per_s // (if .elapsed_s > 0 then .received / .elapsed_s else null end) | numbers | . * 10 | round / 10),
			(.missing // 0)]
		| map(numbers) | select(length == 6) | @tsv' "$1" 2>/dev/null | tail -n 1 | grep .
}

# sockperf_figures FILE: the same from sockperf ping-pong --full-rtt's
# report (colour codes stripped): its percentiles are round trips in usec
# over the "valid duration" (it leaves out the start and the end), and
# transactions/s are that period's ReceivedMessages / RunTime.
sockperf_figures() {
	sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '
		/\[Valid Duration\]/ {
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^RunTime=/) { split($i, a, "="); t = a[2] + 0 }
				if ($i ~ /^SentMessages=/) { split($i, a, "="); sub(";", "", a[2]); s = a[2] + 0 }
				if ($i ~ /^ReceivedMessages=/) { split($i, a, "="); r = a[2] + 0 }
			}
		}
		/percentile 50\.000 =/ { p50 = $NF } /percentile 90\.000 =/ { p90 = $NF }
		/percentile 99\.000 =/ { p99 = $NF } /percentile 99\.900 =/ { p999 = $NF }
		END {
			if (t <= 0 || r <= 0 || p50 == "" || p90 == "" || p99 == "" || p999 == "") exit 1
			printf "%s\t%s\t%s\t%s\t%.1f\t%d\n", p50, p90, p99, p999, r / t, (s > r ? s - r : 0)
		}'
}

# ---------------------------------------------------------------- idle
# bench/idle.sh (written apart) reports one line per point on standard
# output, either clients<TAB>rss_kib<TAB>kib_per_client or a JSON object
# {"type":"idle","clients","rss_kib","kib_per_client"}, and may add
# {"type":"new_client","clients","p50_us","p90_us","p99_us"}: the time from
# connect to the first line echoed for new clients with that many idle
# ones connected. Other lines are commentary. LISTEN_BIN names the daemon
# run.sh built, for idle.sh to use.
IDLE_POINTS=()
IDLE_NEW=
idle_points() { # FILE: clients, rss_kib, kib_per_client ("-": none) a line
	awk -F'\t' 'NF == 3 && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+(\.[0-9]+)?$/' "$1"
	jq -rR 'fromjson? | objects | select(.type == "idle")
		| [.clients, .rss_kib, (.kib_per_client // "-")] | map(tostring) | @tsv' "$1" 2>/dev/null
}
idle_new() { # FILE: clients, p50, p90, p99 (us) of the new clients
	jq -rR 'fromjson? | objects | select(.type == "new_client")
		| [.clients, .p50_us, .p90_us, .p99_us] | select(map(numbers) | length == 4) | map(tostring) | @tsv' "$1" 2>/dev/null
}
idle_section() {
	if [[ ! -f $HERE/idle.sh ]]; then
		IDLE_SKIP="bench/idle.sh is not there yet"
		return 0
	fi
	[[ -n $LISTEN_SKIP ]] && { IDLE_SKIP=$LISTEN_SKIP; return 0; }
	local i pid rc clients rss per p50 p90 p99
	for ((i = 1; i <= IDLE_RUNS; i++)); do
		echo "idle clients, run $i/$IDLE_RUNS" >&2
		rc=0
		start_bg "$RAW/idle-$i.out" "$RAW/idle-$i.err" "$IDLE_LIMIT" env LISTEN_BIN="$LISTEND" bash "$HERE/idle.sh"
		pid=$LAST_PID
		wait_bounded "$pid" "$IDLE_LIMIT" || rc=$?
		if ((rc)); then
			run_failed "$i" idle "bench/idle.sh exit $rc: $(tail -c 300 "$RAW/idle-$i.err")"
			continue
		fi
		local got=0
		while IFS=$'\t' read -r clients rss per; do
			[[ $clients =~ ^[0-9]+$ && $rss =~ ^[0-9]+(\.[0-9]+)?$ ]] || continue
			sample "$i" "idle/$clients" rss_kib "$rss"
			[[ $per =~ ^[0-9]+(\.[0-9]+)?$ ]] && sample "$i" "idle/$clients" kib_per_client "$per"
			[[ " ${IDLE_POINTS[*]} " == *" $clients "* ]] || IDLE_POINTS+=("$clients")
			got=$((got + 1))
			printf '  run %s idle %6s clients: %s KiB RSS, %s KiB a client\n' "$i" "$clients" "$rss" "$per" >&2
		done < <(idle_points "$RAW/idle-$i.out")
		((got)) || run_failed "$i" idle "bench/idle.sh printed no point (clients, rss_kib, kib_per_client)"
		while IFS=$'\t' read -r clients p50 p90 p99; do
			IDLE_NEW=$clients
			sample "$i" idle/new p50_us "$p50"
			sample "$i" idle/new p90_us "$p90"
			sample "$i" idle/new p99_us "$p99"
			printf '  run %s new clients with %s connected: p50 %s, p99 %s us\n' "$i" "$clients" "$p50" "$p99" >&2
		done < <(idle_new "$RAW/idle-$i.out")
	done
	mapfile -t IDLE_POINTS < <(printf '%s\n' "${IDLE_POINTS[@]}" | sort -n | grep .)
}

# ---------------------------------------------------------------- report
speed_facts() {
	local cpu rev
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
	[[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && rev="$rev (with uncommitted changes)"
	cat <<EOF
- date: $(date -u '+%Y-%m-%d %H:%M UTC'); bcast at $rev
- CPU: ${cpu:-unknown}; $(nproc) CPUs ($(lscpu 2>/dev/null | awk -F': *' '/^Thread\(s\) per core/ { print $2 " thread(s) per core" }')); kernel $(uname -r); $(go env GOVERSION); gcc $(gcc -dumpversion); $(sockperf --version 2>/dev/null | awk '/version/ { print "sockperf " $3; exit }')
- load average before / after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)$(awk -v l="${LOAD_BEFORE%% *}" 'BEGIN { if (l > 0.5) print " (other work was running: expect noise)" }')
- mode: $MODE, $ROUNDS rounds; net.core.rmem_default $(cat /proc/sys/net/core/rmem_default) (no run changes socket buffers)
EOF
}

# skip_row LABEL COLUMNS REASON: a table row that says why it has no
# figures; LABEL may hold several cells ("a | b").
skip_row() {
	local cells="" i n
	n=$(awk -F'|' '{ print NF }' <<<"$1")
	for ((i = n + 1; i < $2; i++)); do cells+=" |"; done
	printf '| %s | not available: %s |%s\n' "$1" "$3" "$cells"
}

speed_tables() {
	local l u cov
	IFS=$'\t' read -r l u cov < <("$SPEEDSTAT" ranks "$ROUNDS")
	echo "Figures are medians over the rounds; [low, high] is their distribution-free interval, the runs of rank $l and $u of $ROUNDS sorted, which holds the true median with $(awk -v c="$cov" 'BEGIN { printf "%.1f", 100 * c }') % confidence$( ((ROUNDS <= 5)) && echo " (no 95 % interval exists below 6 runs)") whatever the distribution of the runs. A ratio (x C) is the median of the per-round ratios of runs made in the same round, with its own interval. runs = rounds with a figure (a row with fewer runs has its own ranks)."
	echo
	if has_section recv; then
		echo "### Receiver CPU per datagram"
		echo
		echo "$RECV_COUNT datagrams of 64 B at $RECV_RATE/s from \`udpref send --rate --seq\` (sendmmsg bursts of 64, each datagram stamped as bcast send --seq does), sender pinned to CPU 0, receiver to CPU 1. CPU = the receiver process's user + system time (whole run, start-up included) / datagrams it received."
		echo
		echo "| receiver | CPU ns/datagram | x C | target | user ns | system ns | received % | datagrams/call | runs |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		{
			echo "| C recvmmsg (udpref recv, batch 64) | {m recv/c cpu_ns} | 1 | | {v recv/c user_ns} | {v recv/c sys_ns} | {v recv/c recv_pct} | {v recv/c dgrams_per_call} | {n recv/c cpu_ns} |"
			if [[ -z $BCAST_SKIP ]]; then
				echo "| bcast listen --quiet | {m recv/listen cpu_ns} | {r recv/listen recv/c cpu_ns} | 1.2 | {v recv/listen user_ns} | {v recv/listen sys_ns} | {v recv/listen recv_pct} | | {n recv/listen cpu_ns} |"
				echo "| bcast listen --quiet --seq | {m recv/listen-seq cpu_ns} | {r recv/listen-seq recv/c cpu_ns} | 1.2 | {v recv/listen-seq user_ns} | {v recv/listen-seq sys_ns} | {v recv/listen-seq recv_pct} | | {n recv/listen-seq cpu_ns} |"
			fi
			echo "| library Receiver, all metadata (bench/librecv) | {m recv/librecv cpu_ns} | {r recv/librecv recv/c cpu_ns} | 1.35 | {v recv/librecv user_ns} | {v recv/librecv sys_ns} | {v recv/librecv recv_pct} | {v recv/librecv dgrams_per_call} | {n recv/librecv cpu_ns} |"
			if [[ -n $OLD_BCAST ]]; then
				echo "| bcast listen --quiet ($OLD_BCAST) | {m recv/old cpu_ns} | {r recv/old recv/c cpu_ns} | | {v recv/old user_ns} | {v recv/old sys_ns} | {v recv/old recv_pct} | | {n recv/old cpu_ns} |"
			fi
		} | "$SPEEDSTAT" fill "$SAMPLES_TSV"
		[[ -z $BCAST_SKIP ]] || skip_row "bcast listen --quiet (and --seq)" 9 "$BCAST_SKIP"
		echo
	fi
	if has_section echo; then
		echo "### Echo round trip, one request in flight"
		echo
		echo "64 B; the server pinned to CPU 1, the client to CPU 1 (same core) or CPU 0 (different cores). C client: 1000 warm-up round trips, then $PING_COUNT timed; bcast ping --back-to-back: $PING_COUNT; sockperf ping-pong -t $SOCKPERF_SECONDS --full-rtt (its own warm-up; it keeps only the middle of the run). x C: per-round ratio to the C server with the C client, same placement."
		echo
		echo "| server | client | cores | p50 us | p90 us | p99 us | p99.9 us | transactions/s | p50 x C | p99 x C | target p50 / p99 | runs |"
		echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		local place pair server client why target sname cname pname r ratio50 ratio99
		for place in same cross; do
			for pair in "${ECHO_PAIRS[@]}"; do
				server=${pair%-*} client=${pair#*-}
				case $server in c) sname="C echo (udpref echo)" ;; becho) sname="bcast echo --quiet" ;; daemon) sname="listen daemon --udp" ;; sockperf) sname="sockperf server" ;; esac
				case $client in c) cname="C (udpref ping)" ;; bping) cname="bcast ping --back-to-back" ;; sockperf) cname="sockperf ping-pong" ;; esac
				pname="same core"
				[[ $place == cross ]] && pname="different cores"
				why=$(echo_skip "$pair")
				if [[ -n $why ]]; then
					skip_row "$sname | $cname | $pname" 12 "$why"
					continue
				fi
				target=
				case $pair/$place in
				becho-c/same | daemon-c/same | c-bping/same) target="1.2 / 1.5" ;;
				becho-c/cross | daemon-c/cross | c-bping/cross) target="1.2 / 1.2" ;;
				esac
				r=echo/$pair/$place
				ratio50="{r $r echo/c-c/$place p50_us}" ratio99="{r $r echo/c-c/$place p99_us}"
				[[ $pair == c-c ]] && ratio50=1 ratio99=1
				echo "| $sname | $cname | $pname | {m $r p50_us} | {m $r p90_us} | {m $r p99_us} | {m $r p999_us} | {m $r tps} | $ratio50 | $ratio99 | $target | {n $r p50_us} |"
			done
		done | "$SPEEDSTAT" fill "$SAMPLES_TSV"
		echo
	fi
	if has_section send; then
		echo "### Send CPU per datagram"
		echo
		echo "64 B paced for $SEND_SECONDS s at each rate, sender pinned to CPU 0, a C receiver (udpref recv) on CPU 1. CPU = the sender process's user + system time (whole run, start-up included) / datagrams it sent. udpref send --rate sends a burst of 64 (one sendmmsg) when it is due; bcast send --rate never batches more than are due."
		echo
		echo "| sender | rate/s | CPU ns/datagram | x C | target | user ns | system ns | received % | runs |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
		local rate
		for rate in "${SEND_RATES[@]}"; do
			echo "| C sendmmsg (udpref send --rate) | $rate | {m send/c/$rate cpu_ns} | 1 | | {v send/c/$rate user_ns} | {v send/c/$rate sys_ns} | {v send/c/$rate recv_pct} | {n send/c/$rate cpu_ns} |"
			if [[ -z $BCAST_SKIP ]]; then
				echo "| bcast send --rate | $rate | {m send/bcast/$rate cpu_ns} | {r send/bcast/$rate send/c/$rate cpu_ns} | 1.1 | {v send/bcast/$rate user_ns} | {v send/bcast/$rate sys_ns} | {v send/bcast/$rate recv_pct} | {n send/bcast/$rate cpu_ns} |"
			fi
		done | "$SPEEDSTAT" fill "$SAMPLES_TSV"
		[[ -z $BCAST_SKIP ]] || skip_row "bcast send --rate" 9 "$BCAST_SKIP"
		echo
	fi
	if has_section idle; then
		echo "### Idle TCP clients of the listen daemon"
		echo
		echo "RSS of the listen daemon with N idle TCP clients connected, from bench/idle.sh ($IDLE_RUNS run(s)). Target: at most 2 KiB per client at 10,000."
		echo
		echo "| idle TCP clients | daemon RSS KiB | KiB per client | runs |"
		echo "|---:|---:|---:|---:|"
		if [[ -n $IDLE_SKIP ]]; then
			echo "| - | not available: $IDLE_SKIP | | |"
		elif ((IDLE_RUNS == 0)); then
			echo "| - | not run (IDLE_RUNS=0) | | |"
		else
			local c
			for c in "${IDLE_POINTS[@]}"; do
				echo "| $c | {m idle/$c rss_kib} | {m idle/$c kib_per_client} | {n idle/$c rss_kib} |"
			done | "$SPEEDSTAT" fill "$SAMPLES_TSV"
			if [[ -n $IDLE_NEW ]]; then
				echo
				echo "| a new client, $IDLE_NEW idle ones connected | p50 us | p90 us | p99 us | runs |"
				echo "|---|---:|---:|---:|---:|"
				echo "| connect to its first line echoed | {m idle/new p50_us} | {m idle/new p90_us} | {m idle/new p99_us} | {n idle/new p50_us} |" |
					"$SPEEDSTAT" fill "$SAMPLES_TSV"
			fi
		fi
		echo
	fi
	if [[ -s $FAILURES_TSV ]]; then
		echo "Failed runs, left out of the figures: $(wc -l <"$FAILURES_TSV") (all of them with their reasons in bench/out/failures.tsv):"
		echo
		awk -F'\t' 'NR <= 20 { printf "- round %s, %s: %s\n", $1, $2, $3 }' "$FAILURES_TSV"
		echo
	fi
}

# ---------------------------------------------------------------- main
speed_main() {
	local t_start=$SECONDS
	speed_settings
	ensure_tools speed
	if (($(nproc) < 2)) || ! taskset -c 0,1 true 2>/dev/null; then
		echo "run.sh: the speed table pins to CPUs 0 and 1; this machine (or this process's affinity) has fewer" >&2
		exit 1
	fi
	build speed
	mkdir -p "$RAW"
	rm -f -- "$RAW"/* "$SAMPLES_TSV" "$FAILURES_TSV"
	printf '# round\trow\tmetric\tvalue\n' >"$SAMPLES_TSV"
	: >"$FAILURES_TSV"
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

	RECV_ROWS=() SEND_ROWS=() ECHO_ROWS=()
	if has_section recv; then recv_rows; fi
	if has_section send; then send_rows; fi
	if has_section echo; then
		echo_rows
		[[ -z $BPING_SKIP ]] || echo "run.sh: the bcast ping rows are not available: $BPING_SKIP" >&2
	fi
	# Budget: a stream run is its stream plus ~0.7 s of start-up, bind
	# wait and idle stop; an echo run ~0.5 s of start-up and stop plus its
	# round trips (~70 us apart across cores on this kind of machine, ~10
	# us on one core; bcast's up to 2x that); idle.sh takes its own time.
	local budget nsock=0
	[[ " ${ECHO_ROWS[*]} " == *sockperf* ]] && nsock=2
	budget=$(awk -v r="$ROUNDS" -v nr="${#RECV_ROWS[@]}" -v rs="$RECV_SECONDS" -v ns="${#SEND_ROWS[@]}" -v ss="$SEND_SECONDS" \
		-v ne="${#ECHO_ROWS[@]}" -v pc="$PING_COUNT" -v sp="$SOCKPERF_SECONDS" -v sock="$nsock" \
		'BEGIN { e = ne - sock; printf "%d", r * (nr * (rs + 0.7) + ns * (ss + 0.7) + e * 0.5 + e / 2 * pc * 85e-6 + sock * (sp + 0.8)) }')
	echo "run.sh: $MODE mode, $ROUNDS rounds of ${#RECV_ROWS[@]} receiver-CPU, ${#ECHO_ROWS[@]} echo and ${#SEND_ROWS[@]} send-CPU runs: about ${budget}s, plus bench/idle.sh" >&2

	local round row
	for ((round = 1; round <= ROUNDS; round++)); do
		echo "round $round/$ROUNDS ($((SECONDS - t_start))s in)" >&2
		if ((${#RECV_ROWS[@]})); then
			rotate "$round" "${RECV_ROWS[@]}"
			for row in "${ROTATED[@]}"; do recv_run "$round" "$row"; done
		fi
		if ((${#SEND_ROWS[@]})); then
			rotate "$round" "${SEND_ROWS[@]}"
			for row in "${ROTATED[@]}"; do send_run "$round" "$row"; done
		fi
		if ((${#ECHO_ROWS[@]})); then
			rotate "$round" "${ECHO_ROWS[@]}"
			for row in "${ROTATED[@]}"; do echo_run "$round" "$row"; done
		fi
	done
	if has_section idle && ((IDLE_RUNS > 0)); then idle_section; fi

	{
		echo "## bcast speed: receiver CPU, round trips, send CPU, idle clients"
		echo
		speed_facts
		echo
		speed_tables
	} >"$OUT/results.md"
	cat "$OUT/results.md"
	echo "run.sh: done in $((SECONDS - t_start))s; table in $OUT/results.md, figures in $SAMPLES_TSV, every run's output in $RAW" >&2
}

# ---------------------------------------------------------------- setup
# ensure_tools MODE: install from Debian packages what MODE needs and this
# machine lacks (as root; otherwise say what to install).
ensure_tools() {
	local need=()
	command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
	command -v jq >/dev/null 2>&1 || need+=(jq)
	if [[ $1 == throughput ]]; then
		command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
		command -v socat >/dev/null 2>&1 || need+=(socat)
	else
		command -v sockperf >/dev/null 2>&1 || need+=(sockperf)
		command -v taskset >/dev/null 2>&1 || need+=(util-linux)
	fi
	command -v go >/dev/null 2>&1 || { echo "run.sh: go is not on PATH; it builds the Go references and cmd/bcast" >&2; exit 1; }
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

# go_build PKG DEST: build ./PKG into DEST; on failure remove DEST and
# print the reason (the first lines of the compiler's complaint).
go_build() {
	# go build will not overwrite a file that is not an object file.
	rm -f -- "$2"
	if [[ ! -d $ROOT/$1 ]]; then
		echo "./$1 does not exist"
		return 0
	fi
	if ! (cd "$ROOT" && go build -o "$2" "./$1") 2>"$TMP/build.err"; then
		rm -f -- "$2"
		echo "go build ./$1 failed: $(grep -v '^#' "$TMP/build.err" | head -n 2 | tr '\n' ' ' | head -c 240)"
	fi
}

BCAST_SKIP=
LISTEN_SKIP=
BPING_SKIP=
SOCKPERF_SKIP=
IDLE_SKIP=
# build MODE: the references and bcast's programs, into bench/out/. What
# fails to build leaves its rows "not available", with the reason.
build() {
	mkdir -p "$OUT"
	gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$UDPREF" "$HERE/c/udpref.c" -lm
	BCAST_SKIP=$(go_build cmd/bcast "$OUT/bcast")
	if [[ $1 == throughput ]]; then
		(cd "$ROOT" && go build -o "$GOREF" ./bench/goref)
		return 0
	fi
	(cd "$ROOT" && go build -o "$LIBRECV" ./bench/librecv && go build -o "$SPEEDSTAT" ./bench/speedstat)
	LISTEN_SKIP=$(go_build cmd/listen "$LISTEND")
	# Not a pipe into grep -q: with pipefail, grep leaving early fails it.
	local help=
	[[ -n $BCAST_SKIP ]] || help=$(timeout 10 "$BCAST" ping --help 2>&1) || true
	if [[ -z $BCAST_SKIP && $help != *--back-to-back* ]]; then
		BPING_SKIP="bcast ping has no --back-to-back"
	fi
	command -v sockperf >/dev/null 2>&1 || SOCKPERF_SKIP="sockperf is not installed"
	return 0
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


throughput_main() {
	local t_start=$SECONDS
	throughput_settings
	ensure_tools throughput
	build throughput
	mkdir -p "$TP" "$RAW"
	rm -f -- "$RAW"/* "$RUNS" "$RTT"
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
	} >"$TP/results.md"
	cat "$TP/results.md"
	echo "run.sh: done in $((SECONDS - t_start))s; raw results in $RAW, table in $TP/results.md" >&2
}

# ---------------------------------------------------------------- main
if [[ $MODE == throughput ]]; then
	throughput_main
else
	speed_main
fi
