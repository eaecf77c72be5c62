package mdns

import (
	"bytes"
	"cmp"
	"github.com/bcastdev/bcast/broadcast/discovery/internal/sched"
	"slices"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Probe scheduling (avahi's probe-sched.c): claiming unique names before
// using them (RFC 6762 §8.1, §8.2).

const (
	// probeWaitMax: the first probe waits a random 0-250 ms (§8.1).
	probeWaitMax = 250 * time.Millisecond
	// probeInterval: probes go 250 ms apart, and the name is ours 250 ms
	// after the third.
	probeInterval = 250 * time.Millisecond
	probeCount    = 3
	// tieDefer: a host that loses a simultaneous probe tie-break waits a
	// second before probing again (§8.2).
	tieDefer = time.Second
	// After conflictLimit conflicts within conflictWindow, each new round
	// of probes waits conflictHold first (§8.1).
	conflictLimit  = 15
	conflictWindow = 10 * time.Second
	conflictHold   = 5 * time.Second
)

// probeDelay is the wait before a new round of probes.
func (r *Responder) probeDelay(now time.Time) time.Duration {
	n := 0
	for _, t := range r.conflicts {
		if now.Sub(t) < conflictWindow {
			n++
		}
	}
	if n >= conflictLimit {
		return conflictHold
	}
	return sched.Jitter(r.rnd, 0, probeWaitMax)
}

// startGroup begins probing for g on ifc, if g is published there.
func (r *Responder) startGroup(now time.Time, g *group, ifc *Interface) {
	if !ifc.usable() || len(ifc.groups()) == 0 || !g.on(ifc.Index) || g.links[ifc.Index] != nil {
		return
	}
	g.links[ifc.Index] = &glink{state: probing, next: now.Add(r.probeDelay(now))}
}

// sendProbes sends, per interface, one probe packet for every group whose
// probe is due, and moves groups 250 ms past their third probe on to
// announcing.
func (r *Responder) sendProbes(now time.Time) {
	for _, idx := range sortedKeys(r.ifaces) {
		ifc := r.ifaces[idx]
		var qs []Question
		var auth []Record
		for _, id := range sortedIDs(r.groups) {
			g := r.groups[id]
			gl := g.links[idx]
			if gl == nil || gl.state != probing || gl.next.After(now) {
				continue
			}
			if gl.probes == probeCount {
				r.events = append(r.events, ResponderEvent{Kind: Registered, Service: g.id, IfIndex: idx, Name: g.label})
				gl.state, gl.announceLeft, gl.interval, gl.next = announcing, r.cfg.AnnounceCount, time.Second, now
				gl.announced = true
				continue
			}
			gl.probes++
			gl.next = now.Add(probeInterval)
			// The question asks for every type (so that any record under
			// the name is a conflict); the authority section holds what we
			// propose, for the tie-break. Probes carry no cache-flush bit,
			// and no QU bit, so that defenses come by multicast to every
			// socket on port 5353 here (see the package documentation).
			qs = append(qs, Question{Name: g.name(), Type: dnsmessage.TypeALL, Class: dnsmessage.ClassINET})
			for _, o := range r.records(g, ifc) {
				if o.unique {
					rec := o.rec
					rec.CacheFlush = false
					auth = append(auth, rec)
				}
			}
		}
		if len(qs) == 0 {
			continue
		}
		m := Message{Questions: qs, Authorities: auth}
		b, err := m.AppendPack(nil)
		if err != nil {
			continue
		}
		r.stats.ProbesSent++
		for _, gr := range ifc.groups() {
			r.out = append(r.out, Output{Payload: b, IfIndex: idx, Dst: gr})
		}
	}
}

// checkProbes looks for probes in a query: questions with proposed
// records in the authority section. A probe for a name we are probing for
// too is a simultaneous probe, settled by the tie-break of RFC 6762 §8.2.
// It reports whether the query probes for a name we hold, which we then
// defend at once.
func (r *Responder) checkProbes(now time.Time, ifc *Interface, m *Message) bool {
	if len(m.Authorities) == 0 {
		return false
	}
	defend := false
	for _, q := range m.Questions {
		var theirs []Record
		for _, a := range m.Authorities {
			if equalFold(a.Name, q.Name) {
				theirs = append(theirs, a)
			}
		}
		if len(theirs) == 0 {
			continue
		}
		for _, id := range sortedIDs(r.groups) {
			g := r.groups[id]
			gl := g.links[ifc.Index]
			if gl == nil || !equalFold(g.name(), q.Name) {
				continue
			}
			if gl.state != probing {
				defend = true
				continue
			}
			if r.allOurs(g, theirs) {
				continue // our own probe, looped back or from our other interface
			}
			var mine []Record
			for _, o := range r.records(g, ifc) {
				if o.unique {
					mine = append(mine, o.rec)
				}
			}
			if compareProbes(mine, theirs) < 0 {
				r.stats.ProbeTiesLost++
				r.noteConflict(now)
				gl.probes = 0
				gl.next = now.Add(max(tieDefer, r.probeDelay(now)))
			}
		}
	}
	return defend
}

func (r *Responder) allOurs(g *group, recs []Record) bool {
	for i := range recs {
		if _, ok := r.ours(g, &recs[i]); !ok {
			return false
		}
	}
	return true
}

// compareProbes compares two sets of proposed records as RFC 6762 §8.2
// says: each sorted by class, type and rdata bytes, then compared record
// by record; a set that runs out first is the earlier. The host whose set
// is later wins.
func compareProbes(a, b []Record) int {
	type ent struct {
		class dnsmessage.Class
		typ   dnsmessage.Type
		data  []byte
	}
	prep := func(rs []Record) []ent {
		out := make([]ent, 0, len(rs))
		for i := range rs {
			d, _ := rs[i].rdata()
			out = append(out, ent{rs[i].Class, rs[i].Type, d})
		}
		slices.SortFunc(out, func(x, y ent) int {
			return cmp.Or(cmp.Compare(x.class, y.class), cmp.Compare(x.typ, y.typ), bytes.Compare(x.data, y.data))
		})
		return out
	}
	x, y := prep(a), prep(b)
	for i := 0; i < len(x) && i < len(y); i++ {
		if c := cmp.Or(cmp.Compare(x[i].class, y[i].class), cmp.Compare(x[i].typ, y[i].typ), bytes.Compare(x[i].data, y[i].data)); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(x), len(y))
}
