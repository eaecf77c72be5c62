package netns

import (
	"fmt"
	"path"
	"strings"
)

// maxNameLen bounds Host and LAN names. Namespace names have no kernel
// limit, but short names keep `ip netns list` and the logs readable.
const maxNameLen = 32

// ifNameMax is IFNAMSIZ-1: the kernel rejects longer interface names.
const ifNameMax = 15

// nameOK reports whether s is safe to use unquoted in namespace names,
// interface names and `ip -batch` lines: a letter or digit first, then
// letters, digits, '_', '.' or '-'.
func nameOK(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func checkName(kind, s string) error {
	if !nameOK(s, maxNameLen) {
		return fmt.Errorf("netns: invalid %s name %q: want 1-%d of [A-Za-z0-9_.-], starting with a letter or digit", kind, s, maxNameLen)
	}
	return nil
}

func checkIfName(s string) error {
	if !nameOK(s, ifNameMax) {
		return fmt.Errorf("netns: invalid interface name %q: want 1-%d of [A-Za-z0-9_.-], starting with a letter or digit", s, ifNameMax)
	}
	return nil
}

// sysctlPath maps a sysctl key to its file under /proc/sys. Only net.* keys
// are accepted: they are the ones the kernel scopes to a network namespace,
// so a test cannot change the machine it runs on through Host.Sysctl. Like
// sysctl(8), a key containing '/' is taken as a path (that is how interface
// names with dots are written: net/ipv4/conf/eth0.5/rp_filter).
func sysctlPath(key string) (string, error) {
	p := key
	if !strings.Contains(p, "/") {
		p = strings.ReplaceAll(p, ".", "/")
	}
	bad := p == "" || p[0] == '/' || path.Clean(p) != p
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." {
			bad = true
		}
	}
	if bad || !strings.HasPrefix(p, "net/") || strings.ContainsAny(p, "\x00\n") {
		return "", fmt.Errorf("netns: sysctl key %q: want a net.* key such as net.ipv4.ip_forward", key)
	}
	return "/proc/sys/" + p, nil
}
