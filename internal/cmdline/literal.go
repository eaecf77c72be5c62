package cmdline

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// LooksLiteral reports whether host was meant as an IP address rather
// than a host name: it holds a colon or a percent sign (no host name
// does), it is digits and dots only (no host name is: its last label would
// be numeric), or it is a hexadecimal number (0x7f000001). Such a host is
// never looked up in DNS: if it does not parse, it is a typo to report.
func LooksLiteral(host string) bool {
	if host == "" {
		return false
	}
	if strings.ContainsAny(host, ":%[]") {
		return true
	}
	if onlyOf(host, "0123456789.") {
		return true
	}
	lower := strings.ToLower(host)
	if strings.HasPrefix(lower, "0x") && len(lower) > 2 && onlyOf(lower[2:], "0123456789abcdef.x") {
		return true
	}
	return false
}

func onlyOf(s, set string) bool {
	for _, r := range s {
		if !strings.ContainsRune(set, r) {
			return false
		}
	}
	return true
}

// LiteralProblem says why host, which LooksLiteral, is not an address
// netip accepts, with the fix when there is an obvious one ("127.1":
// "write 127.0.0.1"). It returns "" for a valid address.
func LiteralProblem(host string) string {
	if _, err := netip.ParseAddr(host); err == nil {
		return ""
	}
	if strings.ContainsAny(host, "[]") {
		return "brackets belong around an IPv6 address followed by a port: [ADDR]:PORT"
	}
	if addr, zone, ok := strings.Cut(host, "%"); ok {
		switch {
		case zone == "":
			return fmt.Sprintf("empty zone after %%: name the interface, e.g. %s%%eth0", addr)
		case LiteralProblem(addr) != "":
			return LiteralProblem(addr)
		}
		if a, err := netip.ParseAddr(addr); err == nil && a.Is4() {
			return "an IPv4 address takes no zone (%" + zone + "); pick the interface with --iface"
		}
		return "not a valid zone: " + Quote(zone)
	}
	if strings.Contains(host, ":") {
		return "not a valid IPv6 address" + ipv6Reason(host) + "; write it like 2001:db8::1 or fe80::1%eth0"
	}
	return ipv4Problem(host)
}

// ipv6Reason is netip's own reason without its function name and quoting
// of the input the user just typed.
func ipv6Reason(host string) string {
	_, err := netip.ParseAddr(host)
	if err == nil {
		return ""
	}
	msg := err.Error()
	if i := strings.Index(msg, "): "); i >= 0 {
		msg = msg[i+3:]
	}
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}

// ipv4Problem explains a dotted (or numeric) IPv4 form netip refuses: the
// short and numeric forms inet_aton takes (127.1, 2130706433,
// 0x7f000001), numbers above 255, leading zeros (octal to inet_aton).
func ipv4Problem(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return "an IPv4 address has four numbers separated by dots; this has " + strconv.Itoa(len(parts))
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return "an empty number between dots; write four numbers 0 to 255, like 192.168.1.10"
		}
		n, err := strconv.ParseUint(p, 0, 32) // 0x.. and 0.. as inet_aton reads them
		if err != nil {
			return fmt.Sprintf("%s is not a number from 0 to 255", Quote(p))
		}
		if len(parts) == 4 && n > 255 {
			return fmt.Sprintf("%s is above 255", p)
		}
		nums[i] = n
	}
	if a, ok := atonValue(nums); ok {
		short := fmt.Sprintf("%d.%d.%d.%d", byte(a>>24), byte(a>>16), byte(a>>8), byte(a))
		switch len(parts) {
		case 4: // leading zeros or hex in a dotted quad
			return fmt.Sprintf("leading zeros and 0x are read as octal and hexadecimal by some tools and refused here; write %s if that is what you mean", short)
		case 1:
			return fmt.Sprintf("the numeric form some tools accept; write %s if that is what you mean", short)
		}
		return fmt.Sprintf("the short form some tools accept; write %s if that is what you mean", short)
	}
	return "write four numbers 0 to 255 separated by dots, like 192.168.1.10"
}

// atonValue is the 32-bit address inet_aton makes of one to four numbers:
// the last number fills the bytes the others leave.
func atonValue(nums []uint64) (uint32, bool) {
	var a uint64
	last := nums[len(nums)-1]
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return 0, false
		}
		a |= n << (24 - 8*i)
	}
	if last >= 1<<(8*(4-uint(len(nums)-1))) {
		return 0, false
	}
	return uint32(a | last), true
}
