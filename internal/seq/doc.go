// Package seq is the sequence stamp bcast puts at the front of a datagram, and
// the statistics a receiver draws from the stamps: loss, duplicates,
// reordering and one-way delay, counted exactly.
//
// # The stamp
//
// A stamp is HeaderLen (40) bytes at the start of the payload, big-endian:
//
//	offset size field
//	0      4    magic "BCSQ"
//	4      1    version (1)
//	5      1    flags (none defined yet; receivers ignore unknown bits)
//	6      2    header length in bytes (40); a later version may add
//	            fields after byte 40 and raise it, and a version-1 reader
//	            skips them
//	8      8    run id: random per sending run, so that two senders, or one
//	            sender restarted, are counted apart
//	16     8    sequence number, 1 for the first datagram of a run
//	24     8    total: how many datagrams the run plans to send (0: not
//	            known, the sender runs until stopped)
//	32     8    send time, Unix nanoseconds (signed)
//
// Whatever follows the stamp (the user's message, padding) is not looked at.
// Parse rejects a stamp with the wrong magic or version, a header length below
// 40 or past the datagram, a sequence number of 0, or one above a known total.
//
// # What the receiver counts
//
// A Tracker keeps one record per run id. For every stamped datagram it
// decides: new (first copy of that sequence number), duplicate (a copy seen
// before), or late (too old to tell, see below). A new datagram whose
// sequence number is below the highest already seen in its run is also
// reordered (it arrived after a datagram sent later).
//
//   - Received counts new datagrams only: each sequence number once.
//   - Sent, per run, is the planned total when the stamp carries one,
//     otherwise the highest sequence number seen: datagrams lost after the
//     last one that arrived cannot be known without a total. A receiver that
//     knows better passes Expect (bcast listen --expect N): Sent over all runs
//     is then at least N.
//   - Missing is Sent - Received, exactly.
//
// # The window
//
// Duplicates are told from late arrivals by a bitmap of Window (262144)
// sequence numbers per run, 32 KiB (less when the run's total is smaller),
// held as whole 64-bit words ending with the word of the highest number seen:
// every datagram up to 262080 behind the highest is classified exactly. One
// further behind is counted as Late: it is neither Received nor a duplicate,
// so the counts above are exact whenever Late is 0. At most MaxRuns
// (256) runs are tracked; datagrams of further runs are counted as Untracked.
// Memory is therefore bounded by MaxRuns * 32 KiB (8 MiB).
//
// # Delay
//
// One-way delay is the arrival time minus the send time in the stamp; it is
// only meaningful when both clocks agree (the same host, or hosts synchronised
// by PTP or NTP) and may be negative when they do not. Jitter is the mean
// absolute difference between the delays of consecutive new datagrams of a
// run (the mean IPDV of RFC 5481). Round-trip times need no clock agreement:
// bcast ping reads its own send time back from the echoed stamp. Histogram
// gives their percentiles.
package seq
