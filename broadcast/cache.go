package broadcast

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// refreshEvery is the shortest time between two dumps of the interface list
// by one view, whatever prompts them.
const refreshEvery = time.Second

// snapshot is an immutable picture of the interfaces, built for lookups on
// the receive path that cost a map access and no allocation.
type snapshot struct {
	all     []Interface
	byIndex map[int]*Interface
	local   map[netip.Addr]struct{} // every address of this host, without zone
	bcast   map[netip.Addr]struct{} // every subnet's directed broadcast address
}

func newSnapshot(all []Interface) *snapshot {
	s := &snapshot{
		all:     all,
		byIndex: make(map[int]*Interface, len(all)),
		local:   make(map[netip.Addr]struct{}),
		bcast:   make(map[netip.Addr]struct{}),
	}
	for i := range all {
		ifi := &all[i]
		s.byIndex[ifi.Index] = ifi
		for _, a := range ifi.Addrs {
			s.local[a.Prefix.Addr()] = struct{}{}
			if a.Broadcast.IsValid() {
				s.bcast[a.Broadcast] = struct{}{}
			}
		}
	}
	return s
}

func (s *snapshot) isLocal(ip netip.Addr) bool {
	_, ok := s.local[ip.Unmap().WithZone("")]
	return ok
}

func (s *snapshot) isBroadcast(ip netip.Addr) bool {
	_, ok := s.bcast[ip.Unmap()]
	return ok
}

// view is a Receiver's cached interface list. It is filled at Listen, in the
// network namespace the Receiver was made in, and refreshed through the same
// netlink socket, so it stays in that namespace whichever thread refreshes it.
//
// It refreshes when the kernel announced a change of links or addresses
// (rtnetlink notifications raise a flag) or when a datagram names an
// interface index it does not know; never more than once per refreshEvery,
// and only on demand, from the receiving goroutine, so an idle Receiver
// costs nothing.
type view struct {
	nl      *rtnl
	watcher *changeWatcher
	snap    atomic.Pointer[snapshot]
	dirty   atomic.Bool

	mu   sync.Mutex // one refresh at a time
	last time.Time  // when the current snapshot was taken
}

func newView() (*view, error) {
	nl, err := openRTNL()
	if err != nil {
		return nil, err
	}
	v := &view{nl: nl}
	// Subscribe before the first dump, so that no change falls between.
	v.watcher, err = watchChanges(func() { v.dirty.Store(true) })
	if err != nil {
		nl.Close()
		return nil, err
	}
	if err := v.refresh(); err != nil {
		v.Close()
		return nil, err
	}
	return v, nil
}

// refresh dumps the interfaces now.
func (v *view) refresh() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.refreshLocked()
}

func (v *view) refreshLocked() error {
	v.dirty.Store(false)
	all, err := v.nl.interfaces()
	if err != nil {
		v.dirty.Store(true)
		return err
	}
	v.snap.Store(newSnapshot(all))
	v.last = time.Now()
	return nil
}

// current returns the snapshot, refreshed first if the kernel announced a
// change and the last refresh is old enough. A failed refresh keeps the old
// snapshot: stale names beat none.
//
// Should the notification socket fail, every call counts as a change, so the
// view still refreshes at most once per refreshEvery while datagrams arrive.
func (v *view) current() *snapshot {
	if v.dirty.Load() || v.watcher.stopped.Load() {
		v.maybeRefresh()
	}
	return v.snap.Load()
}

// lookup returns the interface with the given index, refreshing once (rate
// limited) when it is unknown: a link created since the last dump.
func (v *view) lookup(s *snapshot, index int) (*snapshot, *Interface) {
	if ifi := s.byIndex[index]; ifi != nil || index <= 0 {
		return s, ifi
	}
	if !v.maybeRefresh() {
		return s, nil
	}
	s = v.snap.Load()
	return s, s.byIndex[index]
}

// maybeRefresh refreshes unless the snapshot is younger than refreshEvery,
// and reports whether it did.
func (v *view) maybeRefresh() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if time.Since(v.last) < refreshEvery {
		return false
	}
	return v.refreshLocked() == nil
}

func (v *view) Close() error {
	var err error
	if v.watcher != nil {
		err = v.watcher.Close()
	}
	if e := v.nl.Close(); err == nil {
		err = e
	}
	return err
}
