package mdns

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Domain is the one domain mDNS serves (RFC 6762 §3).
const Domain = "local."

// ServicesName is the name whose PTR records list the service types on a
// link (RFC 6763 §9).
const ServicesName = "_services._dns-sd._udp.local."

// Names in this package are in dnsmessage's text form: labels joined by
// dots, ending with a dot, nothing escaped ("My Printer._ipp._tcp.local.").
// Since a label cannot hold a dot (ErrDotInLabel), the form is unambiguous.
// EscapeLabel and ParseInstanceName convert to and from the presentation
// form of RFC 6763 §4.3, where a dot or backslash in a label is escaped.

// CheckInstance returns an error naming the problem if s cannot be a
// service instance name (the user-visible label, RFC 6763 §4.1.1): 1-63
// bytes of UTF-8 (spaces, punctuation and any script are fine), no ASCII
// control characters, and, here, no dot (ErrDotInLabel).
func CheckInstance(s string) error {
	return checkLabel("instance name", s)
}

// CheckHost returns an error naming the problem if s cannot be the first
// label of a host name (s.local.): the rules of CheckInstance.
func CheckHost(s string) error {
	return checkLabel("host name", s)
}

func checkLabel(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("mdns: %s is empty", what)
	case len(s) > 63:
		return fmt.Errorf("mdns: %s %q is %d bytes long; a DNS label holds at most 63", what, s, len(s))
	case !utf8.ValidString(s):
		return fmt.Errorf("mdns: %s %q is not valid UTF-8", what, s)
	case strings.ContainsRune(s, '.'):
		return fmt.Errorf("%w: %s %q", ErrDotInLabel, what, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("mdns: %s %q contains control character %U", what, s, r)
		}
	}
	return nil
}

// ParseServiceType parses a service type as people write it ("_http._tcp",
// "_http._tcp.local", "_http._tcp.local.") and returns it as "_http._tcp"
// (RFC 6763 §7: an application protocol name of 1-15 letters, digits and
// hyphens after the underscore, then _tcp or _udp).
func ParseServiceType(s string) (string, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(s, "."), ".local")
	app, proto, ok := strings.Cut(t, ".")
	if !ok || strings.Contains(proto, ".") {
		return "", fmt.Errorf("mdns: service type %q is not of the form _name._tcp or _name._udp", s)
	}
	if proto != "_tcp" && proto != "_udp" {
		return "", fmt.Errorf("mdns: service type %q: protocol %q is neither _tcp nor _udp", s, proto)
	}
	if err := checkServiceLabel(app); err != nil {
		return "", fmt.Errorf("mdns: service type %q: %w", s, err)
	}
	return app + "." + proto, nil
}

// ParseSubtype checks a subtype label as people write it ("_printer" or
// "printer") and returns it with its underscore (RFC 6763 §7.1).
func ParseSubtype(s string) (string, error) {
	if !strings.HasPrefix(s, "_") {
		s = "_" + s
	}
	if len(s) < 2 || len(s) > 63 || strings.ContainsAny(s, ".\\") {
		return "", fmt.Errorf("mdns: subtype %q is not a label of 1-62 characters without dots", s)
	}
	for _, r := range s {
		if r < 0x20 || r >= 0x7f {
			return "", fmt.Errorf("mdns: subtype %q contains %U; subtypes are printable ASCII", s, r)
		}
	}
	return s, nil
}

func checkServiceLabel(app string) error {
	name, ok := strings.CutPrefix(app, "_")
	if !ok {
		return fmt.Errorf("%q does not start with an underscore", app)
	}
	if name == "" || len(name) > 15 {
		return fmt.Errorf("service name %q is not 1-15 characters long", name)
	}
	if name[0] == '-' || name[len(name)-1] == '-' {
		return fmt.Errorf("service name %q begins or ends with a hyphen", name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("service name %q contains %q; only letters, digits and hyphens are allowed", name, r)
		}
	}
	return nil
}

// ServiceName returns the name browsed for a service type, "_http._tcp" →
// "_http._tcp.local.", or for one of its subtypes (RFC 6763 §7.1),
// "_printer._sub._http._tcp.local.".
func ServiceName(service, subtype string) string {
	if subtype != "" {
		return subtype + "._sub." + service + "." + Domain
	}
	return service + "." + Domain
}

// InstanceName returns the full name of a service instance,
// "My Printer._ipp._tcp.local.", after checking the instance label.
func InstanceName(instance, service string) (string, error) {
	if err := CheckInstance(instance); err != nil {
		return "", err
	}
	return instance + "." + service + "." + Domain, nil
}

// HostName returns host + ".local." after checking the label.
func HostName(host string) (string, error) {
	if err := CheckHost(host); err != nil {
		return "", err
	}
	return host + "." + Domain, nil
}

// SplitInstanceName splits a full instance name in this package's form
// into the instance label and the service type: "My Printer._ipp._tcp.local."
// gives "My Printer", "_ipp._tcp". ok is false if name is not of that shape.
func SplitInstanceName(name string) (instance, service string, ok bool) {
	instance, rest, found := strings.Cut(name, ".")
	if !found || instance == "" {
		return "", "", false
	}
	if !hasSuffixFold(rest, "."+Domain) {
		return "", "", false
	}
	service = rest[:len(rest)-len(Domain)-1]
	if _, err := ParseServiceType(service); err != nil {
		return "", "", false
	}
	return instance, service, true
}

// EscapeLabel returns a label in presentation form (RFC 6763 §4.3; RFC
// 1035 §5.1): a dot or a backslash gets a backslash before it. Spaces and
// UTF-8 stay as they are, as dns-sd and avahi-browse print them.
func EscapeLabel(label string) string {
	if !strings.ContainsAny(label, `.\`) {
		return label
	}
	var sb strings.Builder
	for i := 0; i < len(label); i++ {
		if c := label[i]; c == '.' || c == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(label[i])
	}
	return sb.String()
}

// FormatInstanceName returns an instance's full name in presentation form,
// "My\.Printer._ipp._tcp.local." for the instance "My.Printer".
func FormatInstanceName(instance, service string) string {
	return EscapeLabel(instance) + "." + service + "." + Domain
}

// ParseInstanceName splits a full instance name in presentation form, in
// which the instance label may carry escapes (\. \\ and \DDD with DDD a
// decimal byte value, RFC 1035 §5.1), into the instance label, unescaped,
// and the service type: `My\.Printer._ipp._tcp.local.` gives "My.Printer"
// and "_ipp._tcp". The trailing dot and ".local" may be left out.
func ParseInstanceName(s string) (instance, service string, err error) {
	var sb strings.Builder
	i := 0
	for ; i < len(s) && s[i] != '.'; i++ {
		c := s[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", "", fmt.Errorf("mdns: instance name %q ends with a lone backslash", s)
		}
		if d := s[i+1]; d >= '0' && d <= '9' {
			if i+3 >= len(s) {
				return "", "", fmt.Errorf("mdns: instance name %q: \\DDD escape needs three digits", s)
			}
			v, err := strconv.ParseUint(s[i+1:i+4], 10, 8)
			if err != nil {
				return "", "", fmt.Errorf("mdns: instance name %q: bad escape \\%s", s, s[i+1:i+4])
			}
			sb.WriteByte(byte(v))
			i += 3
			continue
		}
		sb.WriteByte(s[i+1])
		i++
	}
	if i >= len(s) {
		return "", "", fmt.Errorf("mdns: %q has no service type after the instance name", s)
	}
	instance = sb.String()
	if instance == "" || len(instance) > 63 || !utf8.ValidString(instance) {
		return "", "", fmt.Errorf("mdns: instance name in %q is not a label of 1-63 bytes of UTF-8", s)
	}
	service, err = ParseServiceType(s[i+1:])
	if err != nil {
		return "", "", err
	}
	return instance, service, nil
}

// nextInstance gives the name to try after a conflict, as avahi and
// Bonjour do: "name" → "name (2)" → "name (3)" (RFC 6762 §9, RFC 6763
// §4.1.1 leaves the form to the implementation).
func nextInstance(s string) string {
	base, n := s, 1
	if strings.HasSuffix(s, ")") {
		if i := strings.LastIndex(s, " ("); i > 0 {
			if v, err := strconv.Atoi(s[i+2 : len(s)-1]); err == nil && v >= 2 {
				base, n = s[:i], v
			}
		}
	}
	suffix := fmt.Sprintf(" (%d)", n+1)
	return truncUTF8(base, 63-len(suffix)) + suffix
}

// nextHost gives the host label to try after a conflict: "host" →
// "host-2" → "host-3", as avahi does.
func nextHost(s string) string {
	base, n := s, 1
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		if v, err := strconv.Atoi(s[i+1:]); err == nil && v >= 2 && s[i+1] != '0' {
			base, n = s[:i], v
		}
	}
	suffix := fmt.Sprintf("-%d", n+1)
	return truncUTF8(base, 63-len(suffix)) + suffix
}

func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// lowerASCII folds ASCII letters only: DNS names compare without ASCII
// case, and other bytes compare as they are (RFC 6762 §16).
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && equalFold(s[len(s)-len(suffix):], suffix)
}
