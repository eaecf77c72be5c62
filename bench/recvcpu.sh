#!/usr/bin/env bash
# bench/recvcpu.sh: receiver CPU per datagram, bcast listen --quiet against
# a C recvmmsg receiver (bench/c/udpref recv), under a paced stream on
# loopback (issue 17's first row).
#
# A paced C sender (udpref send --rate, one datagram per sendto, evenly
# spaced) sends COUNT 64-byte datagrams at RATE a second to 127.0.0.1,
# pinned to CPU 0; the receiver is pinned to CPU 1. Each round runs every
# receiver once, interleaved, so slow drifts of the machine hit all alike;
# the table gives the median CPU (user + system, seconds) of the rounds, the
# median kernel drops and the ratio to the C receiver. OLD_BCAST=PATH adds a
# row for another bcast binary (say one built from main) to compare against.
#
# Environment: ROUNDS=5, RATE=200000, COUNT=600000, OLD_BCAST=.
# Needs gcc, jq, taskset and /usr/bin/time; 2 CPUs or more.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=$HERE/out/recvcpu
ROUNDS=${ROUNDS:-5}
RATE=${RATE:-200000}
COUNT=${COUNT:-600000}
OLD_BCAST=${OLD_BCAST:-}
[[ $ROUNDS =~ ^[1-9][0-9]?$ ]] || { echo "recvcpu.sh: ROUNDS must be 1..99, got '$ROUNDS'" >&2; exit 2; }
[[ $RATE =~ ^[1-9][0-9]{2,6}$ ]] || { echo "recvcpu.sh: RATE must be 100..9999999 datagrams/s, got '$RATE'" >&2; exit 2; }
[[ $COUNT =~ ^[1-9][0-9]{2,7}$ ]] || { echo "recvcpu.sh: COUNT must be 100..99999999, got '$COUNT'" >&2; exit 2; }
[[ -z $OLD_BCAST || -x $OLD_BCAST ]] || { echo "recvcpu.sh: OLD_BCAST=$OLD_BCAST is not an executable" >&2; exit 2; }
for tool in gcc jq taskset /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "recvcpu.sh: needs $tool" >&2; exit 2; }
done
(($(nproc) >= 2)) || { echo "recvcpu.sh: needs 2 CPUs to pin sender and receiver apart" >&2; exit 2; }
# The sender's planned time, plus start-up and the receivers' idle stop.
LIMIT=$((COUNT / RATE + 15))

# Every process runs under timeout and is waited for by PID; the EXIT trap
# kills, by PID, whatever is still running.
declare -A LIVE=()
cleanup() {
	local p
	for p in "${!LIVE[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "recvcpu.sh: interrupted" >&2; exit 130' INT TERM

mkdir -p "$OUT"
rm -f "$OUT"/r*-*
gcc -O2 -std=gnu11 -Wall -Wextra -Werror -o "$OUT/udpref" "$HERE/c/udpref.c" -lm
(cd "$ROOT" && go build -o "$OUT/bcast" ./cmd/bcast)

# free_port: a port in 20000-31999 no socket uses now.
free_port() {
	local p i
	for ((i = 0; i < 50; i++)); do
		p=$((20000 + RANDOM % 12000))
		if ! ss -Haun "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

receivers=(c bcast)
[[ -n $OLD_BCAST ]] && receivers+=(old)
: >"$OUT/results.tsv"
for ((r = 1; r <= ROUNDS; r++)); do
	for rx in "${receivers[@]}"; do
		port=$(free_port) || { echo "recvcpu.sh: no free port" >&2; exit 1; }
		base=$OUT/r$r-$rx
		case $rx in
		c) taskset -c 1 timeout "$LIMIT" "$OUT/udpref" recv "$port" --size 64 --batch 64 \
			--seconds "$LIMIT" --idle 0.5 --start-timeout 5 >"$base.json" 2>"$base.err" & ;;
		*)
			bin=$OUT/bcast
			[[ $rx == old ]] && bin=$OLD_BCAST
			taskset -c 1 timeout "$LIMIT" /usr/bin/time -f "%U %S" -o "$base.time" "$bin" listen \
				--listen "127.0.0.1:$port" --quiet --json --idle 500ms --timeout "${LIMIT}s" --no-progress \
				>"$base.json" 2>"$base.err" &
			;;
		esac
		rpid=$!
		LIVE[$rpid]=1
		sleep 0.5 # bound before the first datagram; udpref send does not wait
		taskset -c 0 timeout "$LIMIT" "$OUT/udpref" send 127.0.0.1 "$port" --size 64 --rate "$RATE" \
			--count "$COUNT" --seconds "$LIMIT" >"$base.send.json" 2>>"$base.err" || {
			echo "recvcpu.sh: sender to $rx failed: $(head -c 300 "$base.err")" >&2
			exit 1
		}
		rc=0
		wait "$rpid" || rc=$?
		unset "LIVE[$rpid]"
		((rc == 0)) || { echo "recvcpu.sh: $rx receiver exit $rc: $(head -c 300 "$base.err")" >&2; exit 1; }
		if [[ $rx == c ]]; then
			rec=$(jq -r .received "$base.json")
			cpu=$(jq -r .cpu_s "$base.json")
			drops=-
		else
			rec=$(jq -r 'select(.type == "summary") | .received' "$base.json")
			drops=$(jq -r 'select(.type == "summary") | .kernel_drops' "$base.json")
			cpu=$(awk '{ print $1 + $2 }' "$base.time")
		fi
		printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$rx" "$rec" "$cpu" "$drops" >>"$OUT/results.tsv"
	done
done

# median COLUMN RX: the median of a column of results.tsv over the rounds.
median() {
	awk -F'\t' -v rx="$2" -v col="$1" '$2 == rx && $col != "-" { print $col }' "$OUT/results.tsv" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
c_cpu=$(median 4 c)
{
	echo "Receiver CPU, $COUNT x 64 B at $RATE/s paced (udpref send), medians of $ROUNDS interleaved rounds, $(date -u +%Y-%m-%d) on $(nproc) CPUs ($(uname -r))"
	echo
	echo "| receiver | CPU s | x C | received | kernel drops |"
	echo "|---|---|---|---|---|"
	for rx in "${receivers[@]}"; do
		cpu=$(median 4 "$rx")
		name=$rx
		case $rx in
		c) name="C recvmmsg (udpref recv, batch 64)" ;;
		bcast) name="bcast listen --quiet" ;;
		old) name="bcast listen --quiet ($OLD_BCAST)" ;;
		esac
		printf '| %s | %s | %s | %s | %s |\n' "$name" "$cpu" "$(awk -v a="$cpu" -v b="$c_cpu" 'BEGIN { printf "%.2f", a / b }')" \
			"$(median 3 "$rx")" "$(median 5 "$rx")"
	done
} | tee "$OUT/results.md"
