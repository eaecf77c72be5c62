package discovery

// places keeps, for a protocol that reports each peer per place (mDNS per
// interface, SSDP per interface and IP family), what every place heard of
// every peer, and turns each report into the Event it makes: Found when
// a peer's first place is heard, Updated when the Peer gathered from its
// places changes, Lost with its last place. Its owner holds the lock.
type places[K, W comparable, R any] struct {
	peers   map[K]map[W]R
	max     int    // peers kept at most
	refused uint64 // new peers turned away at max
	gather  func(map[W]R) Peer
}

func newPlaces[K, W comparable, R any](max int, gather func(map[W]R) Peer) places[K, W, R] {
	return places[K, W, R]{peers: make(map[K]map[W]R), max: max, gather: gather}
}

// apply records what place w reports of peer k (r, or that it lost it)
// and returns the Event it makes, if any.
func (p *places[K, W, R]) apply(k K, w W, r R, lost bool) (Event, bool) {
	ws := p.peers[k]
	var before Peer
	had := len(ws) > 0
	if had {
		before = p.gather(ws)
	}
	if lost {
		delete(ws, w)
	} else {
		if ws == nil {
			if len(p.peers) >= p.max {
				p.refused++
				return Event{}, false
			}
			ws = make(map[W]R)
			p.peers[k] = ws
		}
		ws[w] = r
	}
	if len(ws) == 0 {
		delete(p.peers, k)
		if had {
			return Event{Kind: Lost, Peer: before}, true
		}
		return Event{}, false
	}
	after := p.gather(ws)
	switch {
	case !had:
		return Event{Kind: Found, Peer: after}, true
	case !samePeer(&before, &after):
		return Event{Kind: Updated, Peer: after}, true
	}
	return Event{}, false
}
