package daemon

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit, since
// every client costs a descriptor, and returns the limit in force. The Go
// runtime does the same at start on Linux; doing it here as well keeps the
// daemon's behaviour independent of that, and gives the number to log.
// (The runtime puts the original soft limit back for child processes.)
func RaiseFileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit RLIMIT_NOFILE: %w", err)
	}
	if rl.Cur < rl.Max {
		want := rl
		want.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
			return rl.Cur, fmt.Errorf("setrlimit RLIMIT_NOFILE %d: %w", rl.Max, err)
		}
		rl = want
	}
	return rl.Cur, nil
}

// ClientCost is the fixed memory a stream client costs whatever it sends:
// its state in the event loop, the runtime's share of it, its epoll entry.
// bench/idle.sh measures it as the daemon's RSS per idle client (about
// 1.4 KiB at 10,000 clients); this is that, rounded up, and what the
// default max-clients charges each client against the client memory
// budget.
const ClientCost = 2 << 10

// FileHeadroom is how many descriptors the default max-clients leaves free
// beyond those open when it is worked out (the listeners, the log, the pid
// file, the config file, standard streams, the runtime's own): the event
// loop's epoll and wake-up pair, the netlink sockets that follow addresses
// and interfaces, the announcer's sockets, a log or config file reopened
// on SIGHUP, and a spare few.
const FileHeadroom = 32

// OpenFiles counts the descriptors this process has open.
func OpenFiles() (int, error) {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	return len(names) - 1, nil // less the one reading the directory
}

// FileRoom is how many clients, one descriptor each, the open-file limit
// nofile leaves room for when inUse descriptors are open and FileHeadroom
// stays free; at least 1. A nofile of 0 (the limit could not be read)
// gives 0: no bound known.
func FileRoom(nofile uint64, inUse int) int {
	if nofile == 0 {
		return 0
	}
	// RLIM_INFINITY is 2^64-1; anything past what max-clients allows is
	// as good.
	nofile = min(nofile, 2*MaxMaxClients)
	return max(1, int(nofile)-inUse-FileHeadroom)
}

// ClientLimit is a default max-clients and what decided it.
type ClientLimit struct {
	Max        int
	By         string // "open-file limit", "client-memory" or "maximum"
	FileRoom   int    // clients the descriptors leave room for; 0: not known
	MemoryRoom int    // clients whose ClientCost fits in the client memory budget
}

// DefaultMaxClients is max-clients when the operator does not set it: as
// many clients as the descriptors leave room for (fileRoom, from FileRoom;
// 0 when not known) and whose fixed cost, ClientCost each, fits in the
// client memory budget, so that by default the daemon's worst case is
// twice the budget: the clients' buffers plus their fixed cost.
func DefaultMaxClients(fileRoom int, clientMemory int64) ClientLimit {
	l := ClientLimit{FileRoom: fileRoom, MemoryRoom: int(min(clientMemory/ClientCost, MaxMaxClients))}
	l.Max, l.By = MaxMaxClients, "maximum"
	if l.MemoryRoom < l.Max {
		l.Max, l.By = max(1, l.MemoryRoom), "client-memory"
	}
	if fileRoom > 0 && fileRoom < l.Max {
		l.Max, l.By = fileRoom, "open-file limit"
	}
	return l
}
