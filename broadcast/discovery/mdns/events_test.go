package mdns

import (
	"net/netip"
	"slices"
	"testing"
)

func TestEventQueueCoalesces(t *testing.T) {
	inst := func(kind EventKind, name string, port uint16) Event {
		return Event{Kind: kind, Sub: 1, IfIndex: 2, Name: name + "._http._tcp.local.", Instance: name, Port: port,
			Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.1")}}
	}
	type step struct {
		push []Event
		want []string // "kind instance port" popped after the pushes
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"found then changed unread: one found with the latest", []step{
			{push: []Event{inst(Found, "a", 1), inst(Changed, "a", 2)}, want: []string{"found a 2"}},
		}},
		{"found and lost unread: nothing", []step{
			{push: []Event{inst(Found, "a", 1), inst(Lost, "a", 1)}, want: nil},
		}},
		{"read, then changed and changed back: nothing", []step{
			{push: []Event{inst(Found, "a", 1)}, want: []string{"found a 1"}},
			{push: []Event{inst(Changed, "a", 2), inst(Changed, "a", 1)}, want: nil},
		}},
		{"read, then lost and found again: changed", []step{
			{push: []Event{inst(Found, "a", 1)}, want: []string{"found a 1"}},
			{push: []Event{inst(Lost, "a", 1), inst(Found, "a", 3)}, want: []string{"changed a 3"}},
		}},
		{"read, then lost: lost", []step{
			{push: []Event{inst(Found, "a", 1)}, want: []string{"found a 1"}},
			{push: []Event{inst(Lost, "a", 1)}, want: []string{"lost a 1"}},
		}},
		{"order kept across instances", []step{
			{push: []Event{inst(Found, "b", 1), inst(Found, "a", 1), inst(Changed, "b", 2)}, want: []string{"found b 2", "found a 1"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newEventQueue(16)
			for i, s := range tc.steps {
				for _, ev := range s.push {
					q.push(ev)
				}
				var got []string
				for {
					ev, ok := q.pop()
					if !ok {
						break
					}
					got = append(got, ev.Kind.String()+" "+ev.Instance+" "+string(rune('0'+ev.Port)))
				}
				if !slices.Equal(got, s.want) {
					t.Errorf("step %d: got %q; want %q", i, got, s.want)
				}
			}
		})
	}
}

func TestEventQueueBounded(t *testing.T) {
	q := newEventQueue(3)
	for i := range 10 {
		q.push(Event{Kind: Found, Sub: 1, IfIndex: 2, Name: string(rune('a'+i)) + ".local."})
	}
	if len(q.pending) != 3 || q.droppedCount() != 7 {
		t.Errorf("pending %d, dropped %d; want 3 and 7", len(q.pending), q.droppedCount())
	}
	q.forget(1)
	if _, ok := q.pop(); ok || len(q.pending) != 0 {
		t.Errorf("after forget: %d pending; want none", len(q.pending))
	}
}
