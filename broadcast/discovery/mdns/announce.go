package mdns

import "time"

// Announcing (avahi's announce.c): unsolicited responses once a name is
// ours, and again when its data changes (RFC 6762 §8.3, §8.4).

// reannounce starts a group's announcements over on one interface.
func (r *Responder) reannounce(now time.Time, gl *glink) {
	gl.state, gl.announceLeft, gl.interval, gl.next = announcing, r.cfg.AnnounceCount, time.Second, now
}

// sendAnnouncements sends, per interface, one response with the records
// of every group whose announcement is due: all of them, unique ones with
// the cache-flush bit. Announcements go one second apart, then two, four
// and so on, AnnounceCount times.
func (r *Responder) sendAnnouncements(now time.Time) {
	for _, idx := range sortedKeys(r.ifaces) {
		ifc := r.ifaces[idx]
		var recs []Record
		seen := make(map[string]bool)
		for _, id := range sortedIDs(r.groups) {
			g := r.groups[id]
			gl := g.links[idx]
			if gl == nil || gl.state != announcing || gl.next.After(now) {
				continue
			}
			for _, o := range r.records(g, ifc) {
				if k := o.rec.key(); !seen[k] {
					seen[k] = true
					recs = append(recs, o.rec)
				}
			}
			if gl.announceLeft--; gl.announceLeft <= 0 {
				gl.state, gl.next = established, time.Time{}
			} else {
				gl.next = now.Add(gl.interval)
				gl.interval *= 2
			}
		}
		if len(recs) == 0 {
			continue
		}
		// What is announced now need not also go out as a planned answer.
		for _, k := range linksOf(ifc) {
			if l := r.links[k]; l != nil {
				for i := range recs {
					delete(l.pending, recs[i].key())
				}
			}
		}
		sortRecords(recs)
		r.multicast(now, ifc, linksOf(ifc), recs, nil)
	}
}
