package mdns

import (
	"cmp"
	"slices"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Query scheduling (avahi's query-sched.c): what the querier asks, on
// which interface, and when.

const (
	// firstQueryMin and firstQueryMax bound the random delay before the
	// first query of a question (RFC 6762 §5.2), which also gathers the
	// questions of several calls made together into one packet.
	firstQueryMin = 20 * time.Millisecond
	firstQueryMax = 120 * time.Millisecond
	// firstInterval and maxInterval: continuous querying waits 1 s after
	// the first query, doubling each time up to 60 minutes (RFC 6762 §5.2).
	firstInterval = time.Second
	maxInterval   = time.Hour
	// dupWindow: a question another host asks within this time before
	// ours is due counts as ours (RFC 6762 §7.3). It is shorter than the
	// shortest interval, so our own query, looped back, never does.
	dupWindow = 500 * time.Millisecond
	// unicastWindow: unicast responses are believed only this long after
	// a query that asked for them (RFC 6762 §6, §5.5).
	unicastWindow = 2 * time.Second
)

type qKey struct {
	ifindex int
	name    string // lowerASCII
	typ     dnsmessage.Type
}

type question struct {
	name string
	typ  dnsmessage.Type
	// continuous questions are asked on the back-off schedule whether
	// answered or not (browsing: new answers may come any time); the
	// others only until answered, then at the refresh points of their
	// answers.
	continuous bool
	qu         bool // the next transmission asks for a unicast response
	interval   time.Duration
	next       time.Time // zero: nothing planned
	refresh    bool      // an answer reached a refresh point
}

// answered reports whether the cache holds an answer to k.
func (q *Querier) answered(k qKey, qu *question) bool {
	return len(q.cache.rrset(k.ifindex, qu.name, qu.typ)) > 0
}

// knownAnswers lists the answers to a question the cache holds with more
// than half their TTL left, with the TTL they have left (RFC 6762 §7.1).
func (q *Querier) knownAnswers(now time.Time, ifindex int, name string, typ dnsmessage.Type) []Record {
	var out []Record
	for _, e := range q.cache.rrset(ifindex, name, typ) {
		if e.expires.Sub(now) <= e.ttl/2 {
			continue
		}
		r := e.rec
		r.TTL, r.CacheFlush = e.remaining(now), false
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Record) int { return cmp.Compare(a.rdataKey(), b.rdataKey()) })
	return out
}

// advance moves a question past a transmission at now, real or counted
// as one (duplicate question suppression).
func (q *Querier) advance(now time.Time, k qKey, qu *question) {
	qu.refresh, qu.qu = false, false
	if qu.continuous || !q.answered(k, qu) {
		qu.next = now.Add(qu.interval)
		qu.interval = min(qu.interval*2, maxInterval)
		return
	}
	qu.next = time.Time{}
}

// observeQuery applies duplicate question suppression (RFC 6762 §7.3) to
// a query another host sent on ifc: a QM question we plan to ask within
// dupWindow, whose known answers are all ones we would list too, counts
// as asked.
func (q *Querier) observeQuery(now time.Time, ifindex int, m *Message) {
	for _, mq := range m.Questions {
		if mq.QU {
			continue
		}
		k := qKey{ifindex, lowerASCII(mq.Name), mq.Type}
		qu := q.questions[k]
		if qu == nil || qu.next.IsZero() || qu.next.Sub(now) > dupWindow {
			continue
		}
		ours := make(map[string]bool)
		for _, r := range q.knownAnswers(now, ifindex, mq.Name, mq.Type) {
			ours[r.rdataKey()] = true
		}
		covered := true
		for i := range m.Answers {
			a := &m.Answers[i]
			if a.Type == mq.Type && equalFold(a.Name, mq.Name) && !ours[a.rdataKey()] {
				covered = false
				break
			}
		}
		if covered {
			q.stats.QueriesSuppressed++
			q.advance(now, k, qu)
		}
	}
}

// sendQueries sends every question due by now, per interface, in as few
// packets as fit, with known answers; answers that do not fit follow in
// packets of their own, all but the last with TC set (RFC 6762 §7.2).
func (q *Querier) sendQueries(now time.Time) {
	due := make(map[int][]qKey)
	for k, qu := range q.questions {
		if qu.next.IsZero() || qu.next.After(now) {
			continue
		}
		if !qu.continuous && !qu.refresh && q.answered(k, qu) {
			qu.next, qu.qu = time.Time{}, false
			continue
		}
		due[k.ifindex] = append(due[k.ifindex], k)
	}
	for _, idx := range sortedKeys(due) {
		ifc := q.ifaces[idx]
		keys := due[idx]
		slices.SortFunc(keys, func(a, b qKey) int {
			return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.typ, b.typ))
		})
		var qs []Question
		var kas [][]Record
		anyQU := false
		for _, k := range keys {
			qu := q.questions[k]
			qs = append(qs, Question{Name: qu.name, Type: qu.typ, Class: dnsmessage.ClassINET, QU: qu.qu})
			anyQU = anyQU || qu.qu
			kas = append(kas, q.knownAnswers(now, idx, qu.name, qu.typ))
			q.advance(now, k, qu)
		}
		if anyQU || q.cfg.EphemeralPort {
			q.unicastUntil[idx] = now.Add(unicastWindow)
		}
		for _, b := range packQueries(qs, kas, ifc.maxPayload()) {
			q.stats.QueriesSent++
			for _, g := range ifc.groups() {
				q.out = append(q.out, Output{Payload: b, IfIndex: idx, Dst: g})
			}
		}
	}
}

// packQueries builds the query messages for questions qs with known
// answers kas (kas[i] for qs[i]) in packets of at most limit bytes.
func packQueries(qs []Question, kas [][]Record, limit int) [][]byte {
	var out [][]byte
	for len(qs) > 0 {
		m := Message{}
		size := 12
		var ka []Record
		for len(qs) > 0 && (len(m.Questions) == 0 || size+qs[0].maxWireLen() <= limit) {
			size += qs[0].maxWireLen()
			m.Questions = append(m.Questions, qs[0])
			ka = append(ka, kas[0]...)
			qs, kas = qs[1:], kas[1:]
		}
		for {
			for len(ka) > 0 && (size+ka[0].maxWireLen() <= limit || len(m.Answers) == 0 && len(m.Questions) == 0) {
				size += ka[0].maxWireLen()
				m.Answers = append(m.Answers, ka[0])
				ka = ka[1:]
			}
			m.Truncated = len(ka) > 0
			if b, err := m.AppendPack(nil); err == nil {
				out = append(out, b)
			}
			if len(ka) == 0 {
				break
			}
			m, size = Message{}, 12
		}
	}
	return out
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
