package mdns

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// A TXTItem is one attribute of a DNS-SD TXT record (RFC 6763 §6). An
// attribute is present without a value ("color": a boolean that is true),
// with an empty value ("color=") or with a value of any bytes, binary
// included; HasValue tells the first from the second.
type TXTItem struct {
	Key      string
	Value    []byte
	HasValue bool
}

// String returns "key", or "key=value" with bytes outside printable ASCII
// and backslashes written as \xHH.
func (t TXTItem) String() string {
	if !t.HasValue {
		return t.Key
	}
	var sb strings.Builder
	sb.WriteString(t.Key)
	sb.WriteByte('=')
	for len(t.Value) > 0 {
		r, n := utf8.DecodeRune(t.Value)
		switch {
		case r == utf8.RuneError && n <= 1, r < 0x20, r == 0x7f, r == '\\':
			fmt.Fprintf(&sb, `\x%02x`, t.Value[0])
			n = 1
		default:
			sb.WriteRune(r)
		}
		t.Value = t.Value[n:]
	}
	return sb.String()
}

// ParseTXTItem parses "key" or "key=value" as given on a command line
// (the value is taken as it is, UTF-8 or not).
func ParseTXTItem(s string) (TXTItem, error) {
	k, v, has := strings.Cut(s, "=")
	it := TXTItem{Key: k, HasValue: has}
	if has {
		it.Value = []byte(v)
	}
	return it, checkTXTKey(k)
}

func checkTXTKey(k string) error {
	if k == "" {
		return fmt.Errorf("mdns: TXT key is empty")
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e || c == '=' {
			return fmt.Errorf("mdns: TXT key %q contains byte %#02x; keys are printable ASCII without '='", k, c)
		}
	}
	return nil
}

// EncodeTXT returns the strings of a TXT record holding items, one string
// per item, ready for Record.Text. Keys must be printable ASCII without
// '=' and distinct without case (RFC 6763 §6.4); an item must fit a
// string of 255 bytes. No items gives the single empty string that stands
// for an empty TXT record (RFC 6763 §6.1).
func EncodeTXT(items []TXTItem) ([]string, error) {
	if len(items) == 0 {
		return []string{""}, nil
	}
	out := make([]string, 0, len(items))
	seen := make(map[string]bool, len(items))
	total := 0
	for _, it := range items {
		if err := checkTXTKey(it.Key); err != nil {
			return nil, err
		}
		lk := lowerASCII(it.Key)
		if seen[lk] {
			return nil, fmt.Errorf("mdns: TXT key %q given twice (keys compare without case)", it.Key)
		}
		seen[lk] = true
		s := it.Key
		if it.HasValue {
			s += "=" + string(it.Value)
		}
		if len(s) > 255 {
			return nil, fmt.Errorf("mdns: TXT item %q is %d bytes; at most 255 fit", it.Key, len(s))
		}
		total += 1 + len(s)
		out = append(out, s)
	}
	// Keep the record within what one message carries next to its SRV
	// and addresses (RFC 6763 §6.2 suggests 200 bytes, and requires
	// senders to keep it under 1300 unless they know better).
	if total > 1300 {
		return nil, fmt.Errorf("mdns: TXT record is %d bytes; at most 1300 fit in one packet with the rest", total)
	}
	return out, nil
}

// DecodeTXT reads the attributes of a TXT record as RFC 6763 §6.4 says
// a client must: empty strings and strings starting with '=' are
// ignored, and of keys repeated (without case) only the first counts.
func DecodeTXT(strs []string) []TXTItem {
	var out []TXTItem
	var seen map[string]bool
	for _, s := range strs {
		if s == "" || s[0] == '=' {
			continue
		}
		k, v, has := strings.Cut(s, "=")
		lk := lowerASCII(k)
		if seen[lk] {
			continue
		}
		if seen == nil {
			seen = make(map[string]bool)
		}
		seen[lk] = true
		it := TXTItem{Key: k, HasValue: has}
		if has {
			it.Value = []byte(v)
		}
		out = append(out, it)
	}
	return out
}

// TXTLookup returns the item with key k (without case), if any.
func TXTLookup(items []TXTItem, k string) (TXTItem, bool) {
	for _, it := range items {
		if equalFold(it.Key, k) {
			return it, true
		}
	}
	return TXTItem{}, false
}
