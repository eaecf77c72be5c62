package broadcast

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// IfState is what a followed interface is now.
type IfState int

const (
	IfGone      IfState = iota // no interface of that name
	IfDown                     // administratively down (ip link set down)
	IfNoCarrier                // up, but without carrier: nothing flows
	IfUp                       // up and running
)

var ifStateNames = [...]string{"gone", "down", "no carrier", "up"}

func (s IfState) String() string {
	if s >= 0 && int(s) < len(ifStateNames) {
		return ifStateNames[s]
	}
	return "?"
}

// IfChange is one change of a followed interface.
type IfChange struct {
	Name     string
	From, To IfState
	// Index is the interface's index now (0 when gone); OldIndex the one
	// it had when last seen. They differ when the interface was deleted
	// and created again: sockets bound or joined by index must do it anew.
	Index, OldIndex int
	// Addrs reports that its addresses changed (From and To may then be
	// the same state).
	Addrs bool
	// Iface is the interface as it is now; the zero Interface when gone.
	Iface Interface
}

// Recreated reports that the interface came back under a new index.
func (c IfChange) Recreated() bool { return c.OldIndex != 0 && c.Index != 0 && c.Index != c.OldIndex }

// A Follower reports the changes of some interfaces, named by the user, for
// a long-running program that must go on when one goes down or is deleted
// and resume on it when it returns.
type Follower struct {
	names   []string
	changed func(IfChange)
	seen    map[string]ifSeen
	watch   *ChangeWatch
	kick    chan struct{}
	done    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// ifSeen is what the Follower last saw of one name.
type ifSeen struct {
	state IfState
	index int // the last index seen, kept while the interface is gone
	addrs []netip.Prefix
}

// followSettle is how long a burst of netlink notifications (a link
// deleted and created again is a dozen) is let settle before the
// interfaces are listed.
const followSettle = 50 * time.Millisecond

// FollowInterfaces starts following the interfaces called names in the
// calling thread's network namespace (an interface that does not exist
// yet is followed too, as gone). changed is called, from a goroutine of
// the Follower's, once for each change of state, index or addresses of one
// of them, in the order seen; never for the state they are in now.
func FollowInterfaces(names []string, changed func(IfChange)) (*Follower, error) {
	f := &Follower{names: slices.Compact(slices.Sorted(slices.Values(names))), changed: changed,
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	// Subscribe before the first listing, so that no change falls between.
	w, err := WatchChanges(func() {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	f.watch = w
	all, err := allInterfaces()
	if err != nil {
		w.Close()
		return nil, err
	}
	f.seen, _ = diffFollowed(nil, f.names, all)
	f.wg.Add(1)
	go f.run()
	return f, nil
}

func (f *Follower) run() {
	defer f.wg.Done()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	for {
		select {
		case <-f.done:
			return
		case <-f.kick:
			settle.Reset(followSettle)
		case <-settle.C:
			all, err := allInterfaces()
			if err != nil {
				// A listing that failed once may work next time: look
				// again after the next change, or in a second.
				settle.Reset(time.Second)
				continue
			}
			var changes []IfChange
			f.seen, changes = diffFollowed(f.seen, f.names, all)
			for _, c := range changes {
				f.changed(c)
			}
		}
	}
}

// Close stops following and waits until changed is no longer called.
func (f *Follower) Close() error {
	var err error
	f.once.Do(func() {
		close(f.done)
		err = f.watch.Close()
		f.wg.Wait()
	})
	return err
}

// diffFollowed compares what was seen of names (nil: nothing yet, and no
// change is reported) with the interfaces there are now.
func diffFollowed(prev map[string]ifSeen, names []string, all []Interface) (map[string]ifSeen, []IfChange) {
	next := make(map[string]ifSeen, len(names))
	var changes []IfChange
	for _, name := range names {
		now := ifSeen{state: IfGone}
		var ifi Interface
		if i := slices.IndexFunc(all, func(x Interface) bool { return x.Name == name }); i >= 0 {
			ifi = all[i]
			now = ifSeen{state: stateOf(ifi), index: ifi.Index, addrs: prefixes(ifi)}
		}
		was, known := prev[name]
		if now.state == IfGone {
			now.index = was.index // remembered, to tell a re-created one
		}
		next[name] = now
		if prev == nil {
			continue
		}
		if !known {
			was = ifSeen{state: IfGone}
		}
		addrsChanged := now.state != IfGone && was.state != IfGone && !slices.Equal(now.addrs, was.addrs)
		indexChanged := now.state != IfGone && was.index != 0 && now.index != was.index
		if now.state == was.state && !indexChanged && !addrsChanged {
			continue
		}
		c := IfChange{Name: name, From: was.state, To: now.state, OldIndex: was.index, Addrs: addrsChanged, Iface: ifi}
		if now.state != IfGone {
			c.Index = now.index
		}
		changes = append(changes, c)
	}
	return next, changes
}

func stateOf(ifi Interface) IfState {
	switch {
	case ifi.Flags&net.FlagUp == 0:
		return IfDown
	case ifi.Flags&net.FlagRunning == 0:
		return IfNoCarrier
	}
	return IfUp
}

func prefixes(ifi Interface) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ifi.Addrs))
	for _, a := range ifi.Addrs {
		out = append(out, a.Prefix)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

// ErrIfaceGone is the error of Receiver.Reattach when its interface does
// not exist now.
var ErrIfaceGone = errors.New("the interface is gone")
