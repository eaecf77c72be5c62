#!/usr/bin/env bash
# bench/recvcpu.sh: the receiver-CPU section of bench/run.sh on its own
# (issue 17's first row), with the settings this script had before run.sh
# took the measurement over: 600,000 datagrams of 64 B at 200,000 a second,
# 5 interleaved rounds, sender pinned to CPU 0, receivers to CPU 1.
#
# Environment: ROUNDS=5, RATE=200000, COUNT=600000, OLD_BCAST=PATH (a row
# for another bcast binary, say one built from main). The table goes to
# bench/out/results.md, as run.sh's does.
set -euo pipefail
RECV_RATE=${RATE:-${RECV_RATE:-200000}}
RECV_COUNT=${COUNT:-${RECV_COUNT:-600000}}
ROUNDS=${ROUNDS:-5}
export RECV_RATE RECV_COUNT ROUNDS
exec bash "$(dirname "${BASH_SOURCE[0]}")/run.sh" --quick --only recv
