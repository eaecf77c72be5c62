package daemon

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/echoguard"
)

// ReplyPolicy says which datagrams the echo mode answers. The zero value
// is the safe default: unicast only, DefaultRate per source, the default
// service ports refused, unix replies only to abstract names and to paths
// in directories this process owns.
type ReplyPolicy struct {
	// Rate bounds the replies to one source address a second (bursts of
	// as many); 0 means echoguard.DefaultRate, negative means no limit.
	Rate float64
	// ServicePorts are the source ports never answered; nil means
	// echoguard.DefaultServicePorts.
	ServicePorts *echoguard.Ports
	// Broadcast answers datagrams sent to a broadcast address too.
	Broadcast bool
	// ReplyDirs are directories whose unix sockets may be answered
	// besides those in directories this process owns.
	ReplyDirs []string
}

func (p ReplyPolicy) guardConfig(port uint16) echoguard.Config {
	cfg := echoguard.DefaultConfig(port)
	switch {
	case p.Rate < 0:
		cfg.Rate = 0
	case p.Rate > 0:
		cfg.Rate, cfg.Burst = p.Rate, max(int(p.Rate), 1)
	}
	cfg.ServicePorts = p.ServicePorts
	cfg.Broadcast = p.Broadcast
	return cfg
}

// dirTrustTTL is how long a verdict on a unix sender's directory is kept:
// one lstat per directory a second, not one per datagram.
const (
	dirTrustTTL  = time.Second
	dirTrustSize = 256
)

// dirTrust remembers whether directories hold only sockets this process
// may answer.
type dirTrust struct {
	named []string // --reply-dir, cleaned
	euid  int
	seen  map[string]dirVerdict
}

type dirVerdict struct {
	ok bool
	at time.Time
}

func newDirTrust(named []string) *dirTrust {
	d := &dirTrust{euid: os.Geteuid(), seen: map[string]dirVerdict{}}
	for _, n := range named {
		d.named = append(d.named, filepath.Clean(n))
	}
	return d
}

// allows reports whether a reply may go to the unix sender at path. The
// path itself can be swapped for a symlink between our receive and our
// reply, so no check of it is safe; what is checked is who can change
// the entries of its directory: the directory must be one the operator
// named, or owned by this process's user and writable by nobody else,
// reached from / through no symlink and through directories only root or
// this user can change (see trusted). Abstract names have no file to swap
// and are always allowed.
func (d *dirTrust) allows(path string, now time.Time) bool {
	if len(path) > 0 && path[0] == '@' {
		return true
	}
	if !filepath.IsAbs(path) {
		return false // relative to the sender's directory, not ours
	}
	dir := filepath.Dir(filepath.Clean(path))
	if slices.Contains(d.named, dir) {
		return true
	}
	if v, ok := d.seen[dir]; ok && now.Sub(v.at) < dirTrustTTL {
		return v.ok
	}
	ok := d.trusted(dir)
	if len(d.seen) >= dirTrustSize {
		clear(d.seen)
	}
	d.seen[dir] = dirVerdict{ok: ok, at: now}
	return ok
}

// trusted reports whether the absolute, clean directory dir holds only
// entries this process's user put there, and keeps naming the same
// directory: every component from / down is a directory, never a symlink
// (whose owner could repoint it at, say, /run/systemd/journal, and the
// reply would go to that socket as this process); each ancestor belongs
// to root or this user and is writable by nobody else, or is sticky like
// /tmp (so nobody else can rename the entry below it); dir itself belongs
// to this user and is writable by nobody else. A path is at most 107
// bytes, so the walk is short.
func (d *dirTrust) trusted(dir string) bool {
	var st syscall.Stat_t
	cur, rest := "/", strings.TrimPrefix(dir, "/")
	for {
		if syscall.Lstat(cur, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return false
		}
		if rest == "" {
			return int(st.Uid) == d.euid && st.Mode&0o022 == 0
		}
		if st.Uid != 0 && int(st.Uid) != d.euid || st.Mode&0o022 != 0 && st.Mode&syscall.S_ISVTX == 0 {
			return false
		}
		name, after, _ := strings.Cut(rest, "/")
		cur, rest = filepath.Join(cur, name), after
	}
}

// replyTo reports the source address a reply to a would be recorded
// under: IPv4-mapped sources of a dual-stack socket as IPv4.
func replyTo(a dgram.Addr) netip.AddrPort {
	return netip.AddrPortFrom(a.AddrPort.Addr().Unmap(), a.AddrPort.Port())
}
