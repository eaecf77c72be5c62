package mdns

import (
	"cmp"
	"github.com/bcastdev/bcast/broadcast/discovery/internal/sched"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Response scheduling (avahi's response-sched.c): which of our records go
// out on which link, and when (RFC 6762 §6, §6.3, §6.4, §7.1, §7.2, §7.4).

const (
	// A response made only of unique records to a one-question query
	// goes at once (RFC 6762 §6: within 10 ms); one with shared records,
	// or to several questions, after 20-120 ms, so that responders do
	// not all answer at once; one to a query with TC after 400-500 ms, to
	// hear the rest of its known answers (§7.2).
	sharedDelayMin = 20 * time.Millisecond
	sharedDelayMax = 120 * time.Millisecond
	tcDelayMin     = 400 * time.Millisecond
	tcDelayMax     = 500 * time.Millisecond
	// aggregateMax: a response may wait this much longer to go out with
	// another already planned (RFC 6762 §6.4).
	aggregateMax = 500 * time.Millisecond
	// multicastGap: a record is multicast on a link at most once a second
	// (RFC 6762 §6), or four times a second to defend it against a probe.
	multicastGap = time.Second
	probeGap     = 250 * time.Millisecond
	// maxAskers: how many sources a planned answer remembers for their
	// later known answers (§7.2); past that it is sent regardless.
	maxAskers = 8
	// maxLastSent: past this many records in a link's send times, the
	// ones too old to matter are forgotten.
	maxLastSent = 1024
)

// A rlinkKey is one family on one interface: a multicast answer goes out
// to the group of the family the query came in on.
type rlinkKey struct {
	ifindex int
	v6      bool
}

func (k rlinkKey) group() netip.AddrPort {
	if k.v6 {
		return IPv6Group
	}
	return IPv4Group
}

type pending struct {
	rec    Record
	due    time.Time
	askers []netip.Addr
	many   bool
}

type rlink struct {
	pending map[string]*pending  // by Record.key
	last    map[string]time.Time // when each record was last multicast here
}

func (r *Responder) rlink(k rlinkKey) *rlink {
	l := r.links[k]
	if l == nil {
		l = &rlink{pending: make(map[string]*pending), last: make(map[string]time.Time)}
		r.links[k] = l
	}
	return l
}

// schedule plans a multicast answer of rec on link k at due (now plus a
// delay of at least lo), but not sooner than gap after the record last
// went out there, asked for by src.
func (r *Responder) schedule(now time.Time, k rlinkKey, rec Record, due time.Time, lo, gap time.Duration, src netip.Addr) {
	l := r.rlink(k)
	key := rec.key()
	if last, ok := l.last[key]; ok && last.Add(gap).After(due) {
		due = last.Add(gap)
	}
	if p := l.pending[key]; p != nil {
		if due.Before(p.due) {
			p.due = due
		}
		p.ask(src)
		return
	}
	if lo > 0 {
		// Join a response already planned a little later, rather than
		// send two (RFC 6762 §6.4).
		var join time.Time
		for _, p := range l.pending {
			if !p.due.Before(now.Add(lo)) && !p.due.After(now.Add(aggregateMax)) {
				join = sched.Earliest(join, p.due)
			}
		}
		if !join.IsZero() {
			due = join
		}
	}
	p := &pending{rec: rec, due: due}
	p.ask(src)
	l.pending[key] = p
}

func (p *pending) ask(src netip.Addr) {
	if p.many || slices.Contains(p.askers, src) {
		return
	}
	if len(p.askers) >= maxAskers {
		p.many, p.askers = true, nil
		return
	}
	p.askers = append(p.askers, src)
}

// knownByAsker drops src from the askers of planned answers it says it
// knows (RFC 6762 §7.2: known answers that follow a query with TC), and
// the answers nobody else asked for.
func (r *Responder) knownByAsker(k rlinkKey, src netip.Addr, known []Record) {
	l := r.links[k]
	if l == nil {
		return
	}
	for i := range known {
		key := known[i].key()
		p := l.pending[key]
		if p == nil || p.many || known[i].TTL < p.rec.TTL/2 {
			continue
		}
		if j := slices.Index(p.askers, src); j >= 0 {
			p.askers = slices.Delete(p.askers, j, j+1)
			if len(p.askers) == 0 {
				delete(l.pending, key)
				r.stats.KnownAnswerSuppressed++
			}
		}
	}
}

// heardAnswer applies duplicate answer suppression (RFC 6762 §7.4): a
// planned answer another responder just gave, with a TTL at least ours,
// counts as given.
func (r *Responder) heardAnswer(now time.Time, k rlinkKey, rec *Record) {
	l := r.links[k]
	if l == nil {
		return
	}
	key := rec.key()
	if p := l.pending[key]; p != nil && rec.TTL >= p.rec.TTL {
		delete(l.pending, key)
		l.last[key] = now
		r.stats.DuplicateAnswersSuppressed++
	}
}

// sendResponses sends, per link, every planned answer due by now, in
// one response (or as few as fit), with additional records.
func (r *Responder) sendResponses(now time.Time) {
	keys := make([]rlinkKey, 0, len(r.links))
	for k := range r.links {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rlinkKey) int {
		return cmp.Or(cmp.Compare(a.ifindex, b.ifindex), boolCmp(a.v6, b.v6))
	})
	for _, k := range keys {
		l := r.links[k]
		ifc := r.ifaces[k.ifindex]
		var answers []Record
		for key, p := range l.pending {
			if p.due.After(now) {
				continue
			}
			delete(l.pending, key)
			if ifc == nil || !ifc.usable() || !ifc.hasFamily(k.v6) {
				continue
			}
			answers = append(answers, p.rec)
		}
		if len(answers) == 0 {
			continue
		}
		sortRecords(answers)
		extra := r.additionals(ifc, answers)
		r.multicast(now, ifc, []rlinkKey{k}, answers, extra)
	}
}

// multicast sends answers and extra (additional records) to the groups
// of links of ifc, noting the time for the rate limit.
func (r *Responder) multicast(now time.Time, ifc *Interface, links []rlinkKey, answers, extra []Record) {
	for _, b := range packResponses(answers, extra, ifc.maxPayload()) {
		for _, k := range links {
			r.out = append(r.out, Output{Payload: b, IfIndex: ifc.Index, Dst: k.group()})
			r.stats.ResponsesSent++
		}
	}
	for _, k := range links {
		l := r.rlink(k)
		if len(l.last) > maxLastSent {
			// Records changed or withdrawn long ago: the QU rule looks
			// back a quarter of the longest TTL, the rate limit a second.
			for key, t := range l.last {
				if now.Sub(t) > otherTTL*time.Second/4 {
					delete(l.last, key)
				}
			}
		}
		for i := range answers {
			l.last[answers[i].key()] = now
		}
		for i := range extra {
			l.last[extra[i].key()] = now
		}
	}
}

// additionals are the records that save the querier its next questions
// (RFC 6763 §12, RFC 6762 §6.2): for a PTR to one of our instances its
// SRV, TXT and addresses; for an SRV, the addresses of its target; for
// an address, those of the other family; NSEC for a family the host lacks
// on this interface. Records already among the answers are left out.
func (r *Responder) additionals(ifc *Interface, answers []Record) []Record {
	have := make(map[string]bool)
	for i := range answers {
		have[answers[i].key()] = true
	}
	owned := r.answering(ifc)
	var out []Record
	add := func(name string, types ...dnsmessage.Type) {
		for _, o := range owned {
			if equalFold(o.rec.Name, name) && slices.Contains(types, o.rec.Type) {
				if k := o.rec.key(); !have[k] {
					have[k] = true
					out = append(out, o.rec)
				}
			}
		}
	}
	hostAddrs := func(name string) {
		add(name, dnsmessage.TypeA, dnsmessage.TypeAAAA)
		if equalFold(name, r.hostName()) {
			if nsec, ok := r.hostNSEC(ifc, true); ok {
				if k := nsec.key(); !have[k] {
					have[k] = true
					out = append(out, nsec)
				}
			}
		}
	}
	for _, a := range answers {
		switch a.Type {
		case dnsmessage.TypePTR:
			for _, o := range owned {
				if o.rec.Type == dnsmessage.TypeSRV && equalFold(o.rec.Name, a.Target) {
					add(a.Target, dnsmessage.TypeSRV, dnsmessage.TypeTXT)
					hostAddrs(o.rec.Target)
					break
				}
			}
		case dnsmessage.TypeSRV:
			hostAddrs(a.Target)
		case dnsmessage.TypeA, dnsmessage.TypeAAAA:
			hostAddrs(a.Name)
		}
	}
	return out
}

func sortRecords(recs []Record) {
	slices.SortStableFunc(recs, func(a, b Record) int {
		return cmp.Or(cmp.Compare(lowerASCII(a.Name), lowerASCII(b.Name)), cmp.Compare(a.Type, b.Type), cmp.Compare(a.rdataKey(), b.rdataKey()))
	})
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
