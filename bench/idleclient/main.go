// Command idleclient measures what idle TCP clients cost the listen daemon:
// it opens clients to ADDR in steps, each doing one echo round trip and
// then staying connected without a byte more, and at each step reads the
// daemon's VmRSS from /proc/PID/status. With the most clients connected it
// times new clients: from the start of connect to their first line echoed.
// bench/idle.sh builds and runs it.
//
//	idleclient --addr 127.0.0.1:PORT --pid PID [--points 0,1000,5000,10000]
//	           [--samples 200] [--timeout 120s]
//
// Output: one JSON object a line, each with a "type":
//
//	{"type":"idle","clients":N,"rss_kib":K,"kib_per_client":F}
//	{"type":"new_client","clients":N,"samples":S,"p50_us":F,"p90_us":F,"p99_us":F,"max_us":F}
//
// kib_per_client is (rss_kib at N - rss_kib at the first point) / (N - the
// first point's clients); null at the first point. Only loopback addresses
// are accepted.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "idleclient:", err)
		os.Exit(1)
	}
}

// dialers is how many clients connect at once: enough to fill 10,000 in a
// few seconds, few enough that the daemon's listen backlog never
// overflows (a dropped SYN costs a second).
const dialers = 32

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("idleclient", flag.ContinueOnError)
	addrText := fs.String("addr", "", "the daemon's TCP `ADDR:PORT` (loopback only)")
	pid := fs.Int("pid", 0, "the daemon's `PID`, whose /proc/PID/status is read")
	pointsText := fs.String("points", "0,1000,5000,10000", "client counts to measure at, ascending")
	samples := fs.Int("samples", 200, "new clients timed at the last point")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ap, err := netip.ParseAddrPort(*addrText)
	if err != nil || !ap.Addr().IsLoopback() {
		return fmt.Errorf("--addr %q: want a loopback ADDR:PORT", *addrText)
	}
	if *pid <= 0 {
		return errors.New("--pid: want the daemon's pid")
	}
	points, err := parsePoints(*pointsText)
	if err != nil {
		return fmt.Errorf("--points: %w", err)
	}
	if *samples < 1 || *samples > 10000 {
		return fmt.Errorf("--samples %d: want 1 to 10000", *samples)
	}
	most := points[len(points)-1]
	if err := raiseFileLimit(uint64(most + *samples + 64)); err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	addr := ap.String()
	out := json.NewEncoder(stdout)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	baseFDs, err := countFDs(*pid)
	if err != nil {
		return err
	}
	type idleLine struct {
		Type         string   `json:"type"`
		Clients      int      `json:"clients"`
		RSSKiB       int      `json:"rss_kib"`
		KiBPerClient *float64 `json:"kib_per_client"`
	}
	var first struct{ clients, rss int }
	for i, n := range points {
		more, err := connect(addr, n-len(conns), deadline)
		conns = append(conns, more...)
		if err != nil {
			return fmt.Errorf("opening client %d: %w", len(conns)+1, err)
		}
		// Every client had its echo, so the daemon accepted it; its
		// descriptors say it still holds them all.
		if err := waitFDs(*pid, baseFDs+n, time.Now().Add(10*time.Second)); err != nil {
			return err
		}
		rss, err := settledRSS(*pid)
		if err != nil {
			return err
		}
		line := idleLine{Type: "idle", Clients: n, RSSKiB: rss}
		if i == 0 {
			first.clients, first.rss = n, rss
		} else {
			per := math.Round(float64(rss-first.rss)/float64(n-first.clients)*1000) / 1000
			line.KiBPerClient = &per
		}
		out.Encode(line)
	}

	lat, err := timeNewClients(addr, *samples, deadline)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	us := func(q float64) float64 {
		d := lat[min(len(lat)-1, int(q*float64(len(lat))))]
		return math.Round(float64(d.Nanoseconds())/10) / 100
	}
	out.Encode(struct {
		Type    string  `json:"type"`
		Clients int     `json:"clients"`
		Samples int     `json:"samples"`
		P50     float64 `json:"p50_us"`
		P90     float64 `json:"p90_us"`
		P99     float64 `json:"p99_us"`
		Max     float64 `json:"max_us"`
	}{"new_client", len(conns), len(lat), us(0.50), us(0.90), us(0.99), us(1)})
	return nil
}

func parsePoints(text string) ([]int, error) {
	var points []int
	for _, f := range strings.Split(text, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 100000 {
			return nil, fmt.Errorf("%q: want client counts from 0 to 100000", f)
		}
		if len(points) > 0 && n <= points[len(points)-1] {
			return nil, fmt.Errorf("%q: want them ascending", text)
		}
		points = append(points, n)
	}
	return points, nil
}

// raiseFileLimit makes room for want descriptors: the soft limit up to the
// hard one, and the hard one too when that is short and we may (root).
func raiseFileLimit(want uint64) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur >= want {
		return nil
	}
	rl.Cur = max(want, rl.Cur)
	rl.Max = max(rl.Max, rl.Cur)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_NOFILE %d: %w (raise the hard limit, or run as root)", want, err)
	}
	return nil
}

// connect opens n clients, each echoing one line before it goes idle.
func connect(addr string, n int, deadline time.Time) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	next := make(chan int)
	errs := make(chan error, dialers)
	var wg sync.WaitGroup
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c, _, err := echoOnce(addr, deadline)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}
		}()
	}
	var err error
feed:
	for i := range n {
		select {
		case next <- i:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return slices.DeleteFunc(conns, func(c net.Conn) bool { return c == nil }), err
}

var hello = []byte("idle client\n")

// echoOnce connects, sends a line and waits for it to come back; it
// returns the connection, idle again, and how long that took.
func echoOnce(addr string, deadline time.Time) (net.Conn, time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
	if err != nil {
		return nil, 0, err
	}
	c.SetDeadline(deadline)
	buf := make([]byte, len(hello))
	if _, err = c.Write(hello); err == nil {
		_, err = io.ReadFull(c, buf)
	}
	took := time.Since(start)
	if err == nil && !bytes.Equal(buf, hello) {
		err = fmt.Errorf("echo %q: want %q (is it the listen daemon in echo mode, with --max-clients above the clients?)", buf, hello)
	}
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	c.SetDeadline(time.Time{})
	return c, took, nil
}

// timeNewClients times samples new clients, one at a time, each closed
// after its echo.
func timeNewClients(addr string, samples int, deadline time.Time) ([]time.Duration, error) {
	var lat []time.Duration
	for range samples {
		c, took, err := echoOnce(addr, deadline)
		if err != nil {
			return nil, fmt.Errorf("timing a new client: %w", err)
		}
		c.Close()
		lat = append(lat, took)
	}
	return lat, nil
}

func countFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, fmt.Errorf("counting the daemon's descriptors: %w", err)
	}
	return len(ents), nil
}

// waitFDs waits until the daemon holds at least want descriptors.
func waitFDs(pid, want int, deadline time.Time) error {
	for {
		got, err := countFDs(pid)
		if err != nil || got >= want {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the daemon holds %d descriptors; want %d: one per client and those it had before", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settledRSS waits half a second for the daemon to be done with the
// clients' arrival, then takes the median of five VmRSS readings over
// another second.
func settledRSS(pid int) (int, error) {
	time.Sleep(500 * time.Millisecond)
	var kib []int
	for i := range 5 {
		if i > 0 {
			time.Sleep(250 * time.Millisecond)
		}
		k, err := readRSS(pid)
		if err != nil {
			return 0, err
		}
		kib = append(kib, k)
	}
	slices.Sort(kib)
	return kib[len(kib)/2], nil
}

func readRSS(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}
