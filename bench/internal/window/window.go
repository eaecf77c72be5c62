// Package window holds what bench's Go receivers (goref, librecv) share: the
// rule for when a counting receiver stops, the loopback-only address check,
// and the process's CPU time, so that their figures are taken alike.
package window

import (
	"fmt"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// Window decides when a receiver that counts datagrams stops: Length after
// the first datagram, Idle after the last one, or StartTimeout after Begin
// if nothing came. Its Seconds run from the first datagram to the last, so
// the idle wait at the end is not counted in a rate.
type Window struct {
	StartTimeout, Idle, Length time.Duration

	begin, first, last time.Time
	started            bool
}

// Begin starts the clock of StartTimeout.
func (w *Window) Begin(now time.Time) { w.begin = now }

// Arrived records datagrams received at now and reports whether the window
// has closed.
func (w *Window) Arrived(now time.Time) bool {
	if !w.started {
		w.started, w.first = true, now
	}
	w.last = now
	return now.Sub(w.first) >= w.Length
}

// Quiet records that a read found nothing until now (its deadline passed)
// and reports whether the count is over.
func (w *Window) Quiet(now time.Time) bool {
	if !w.started {
		return now.Sub(w.begin) >= w.StartTimeout
	}
	return now.Sub(w.last) >= w.Idle || now.Sub(w.first) >= w.Length
}

// Seconds is the time from the first datagram to the last; 0 before one.
func (w *Window) Seconds() float64 {
	if !w.started {
		return 0
	}
	return w.last.Sub(w.first).Seconds()
}

// Loopback parses host and port and refuses any address outside
// 127.0.0.0/8 and ::1: the bench programs never touch another interface.
func Loopback(host, port string) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("%q is not a numeric IP address", host)
	}
	if !a.IsLoopback() {
		return netip.AddrPort{}, fmt.Errorf("%s is not a loopback address; only 127.0.0.0/8 and ::1 are used", host)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("PORT: want 1..65535, got %q", port)
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
}

// CPU is this process's user and system CPU time so far, every runtime
// thread included; -1, -1 if the kernel will not say.
func CPU() (user, system float64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1, -1
	}
	return time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds()
}

// Rate is n per second, 0 over no time.
func Rate(n uint64, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	return float64(n) / seconds
}
