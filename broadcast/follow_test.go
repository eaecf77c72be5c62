package broadcast

import (
	"net"
	"net/netip"
	"slices"
	"testing"
)

func TestDiffFollowed(t *testing.T) {
	up := net.FlagUp | net.FlagRunning
	eth := func(index int, flags net.Flags, prefixes ...string) Interface {
		ifi := Interface{Index: index, Name: "eth0", Flags: flags}
		for _, p := range prefixes {
			ifi.Addrs = append(ifi.Addrs, IfAddr{Prefix: netip.MustParsePrefix(p)})
		}
		return ifi
	}
	other := Interface{Index: 1, Name: "lo", Flags: up | net.FlagLoopback}
	steps := []struct {
		name string
		all  []Interface
		want []IfChange // Iface not compared
	}{
		{"start: nothing reported", []Interface{other, eth(3, up, "10.0.0.1/24")}, nil},
		{"no change", []Interface{other, eth(3, up, "10.0.0.1/24")}, nil},
		{"down", []Interface{other, eth(3, net.FlagRunning, "10.0.0.1/24")}, []IfChange{{Name: "eth0", From: IfUp, To: IfDown, Index: 3, OldIndex: 3}}},
		{"up, no carrier", []Interface{other, eth(3, net.FlagUp, "10.0.0.1/24")}, []IfChange{{Name: "eth0", From: IfDown, To: IfNoCarrier, Index: 3, OldIndex: 3}}},
		{"running", []Interface{other, eth(3, up, "10.0.0.1/24")}, []IfChange{{Name: "eth0", From: IfNoCarrier, To: IfUp, Index: 3, OldIndex: 3}}},
		{"address added", []Interface{other, eth(3, up, "10.0.0.1/24", "fe80::1/64")}, []IfChange{{Name: "eth0", From: IfUp, To: IfUp, Index: 3, OldIndex: 3, Addrs: true}}},
		{"gone", []Interface{other}, []IfChange{{Name: "eth0", From: IfUp, To: IfGone, OldIndex: 3}}},
		{"still gone", []Interface{other}, nil},
		{"back, new index, down", []Interface{other, eth(7, 0)}, []IfChange{{Name: "eth0", From: IfGone, To: IfDown, Index: 7, OldIndex: 3}}},
		{"up", []Interface{other, eth(7, up, "10.0.0.1/24")}, []IfChange{{Name: "eth0", From: IfDown, To: IfUp, Index: 7, OldIndex: 7, Addrs: true}}},
		{"replaced at once, same state", []Interface{other, eth(9, up, "10.0.0.1/24")}, []IfChange{{Name: "eth0", From: IfUp, To: IfUp, Index: 9, OldIndex: 7}}},
	}
	var seen map[string]ifSeen
	for i, st := range steps {
		var got []IfChange
		if i == 0 {
			seen, got = diffFollowed(nil, []string{"eth0", "nosuch"}, st.all)
		} else {
			seen, got = diffFollowed(seen, []string{"eth0", "nosuch"}, st.all)
		}
		same := func(a, b IfChange) bool {
			return a.Name == b.Name && a.From == b.From && a.To == b.To && a.Index == b.Index && a.OldIndex == b.OldIndex && a.Addrs == b.Addrs
		}
		if !slices.EqualFunc(got, st.want, same) {
			t.Errorf("%s: changes %+v; want %+v", st.name, got, st.want)
		}
	}
	if c := (IfChange{Index: 7, OldIndex: 3}); !c.Recreated() {
		t.Errorf("%+v: Recreated false; want true", c)
	}
	if c := (IfChange{Index: 3, OldIndex: 3}); c.Recreated() {
		t.Errorf("%+v: Recreated true; want false", c)
	}
}
