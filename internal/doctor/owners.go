package doctor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Owner is a process holding a socket.
type Owner struct {
	PID  int
	Comm string
}

// maxFDs bounds the descriptors SocketOwners looks at, so that a host with
// huge processes cannot make doctor slow.
const maxFDs = 1 << 20

// SocketOwners finds, under proc, a process holding each socket inode, by
// reading the /proc/PID/fd links ("socket:[INODE]"). Processes of other users
// are only visible to root; their sockets stay unowned.
func SocketOwners(proc string, inodes []uint64) map[uint64]Owner {
	want := map[string]uint64{}
	for _, ino := range inodes {
		want["socket:["+strconv.FormatUint(ino, 10)+"]"] = ino
	}
	out := map[uint64]Owner{}
	ents, err := os.ReadDir(proc)
	if err != nil {
		return out
	}
	seen := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(proc, e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if seen++; seen > maxFDs {
				return out
			}
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			ino, ok := want[link]
			if !ok {
				continue
			}
			if _, done := out[ino]; done {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join(proc, e.Name(), "comm"))
			out[ino] = Owner{PID: pid, Comm: strings.TrimSpace(string(comm))}
			if len(out) == len(want) {
				return out
			}
		}
	}
	return out
}
