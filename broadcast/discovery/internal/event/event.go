// Package event holds the one kind of event the mdns and ssdp packages
// report, each under its own name (mdns.EventKind, ssdp.EventKind), so the
// two browsers speak of found, changed and lost alike.
package event

import "fmt"

// Kind says what happened to what a subscription or a search watches.
type Kind int

const (
	Found Kind = iota + 1
	Changed
	Lost
)

func (k Kind) String() string {
	switch k {
	case Found:
		return "found"
	case Changed:
		return "changed"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}
