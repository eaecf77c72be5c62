package daemon

import (
	"fmt"

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
