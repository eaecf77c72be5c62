package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// progressAutoCount is the --count above which send shows its progress
// line by itself on a terminal: below it a run is over before a line a
// second says anything.
const progressAutoCount = 5000

// progressFlags are --progress, whose help says when the line is on by
// default, and --no-progress.
func progressFlags(byDefault string) []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "progress", Usage: "print a line a second on standard error while the run lasts, as iperf3's intervals (by default " + byDefault + ")"},
		&cli.BoolFlag{Name: "no-progress", Usage: "never print the line a second"},
	}
}

// progressWanted settles --progress and --no-progress: either one wins,
// both is a usage error, and neither leaves it to auto on a terminal.
func progressWanted(c *cli.Context, auto bool) (bool, error) {
	on, off := c.Bool("progress"), c.Bool("no-progress")
	switch {
	case on && off:
		return false, errors.New("--progress and --no-progress: give one")
	case on:
		return true, nil
	case off:
		return false, nil
	}
	return auto && isTerminal(c.App.ErrWriter), nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// everySecond calls line once a second, with the time since start, and
// prints what it returns on stderr, until the returned stop is called
// (stop waits for the goroutine, so nothing is printed after it returns).
func everySecond(stderr *out, start time.Time, line func(elapsed time.Duration) string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if s := line(now.Sub(start)); s != "" {
					stderr.Printf("%s", s)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// sendProgress counts what a send did, for its line a second; the send
// loops add once per batch.
type sendProgress struct {
	sent, failed atomic.Uint64
}

func (sp *sendProgress) add(sent, failed uint64) {
	if sp == nil {
		return
	}
	if sent > 0 {
		sp.sent.Add(sent)
	}
	if failed > 0 {
		sp.failed.Add(failed)
	}
}

// lineFunc returns the line of each second: the total so far, the rate in
// the last second and the errors.
func (sp *sendProgress) lineFunc() func(time.Duration) string {
	var last uint64
	return func(elapsed time.Duration) string {
		sent := sp.sent.Load()
		line := fmt.Sprintf("[%5.0fs] sent %d rate %d/s errors %d", elapsed.Seconds(), sent, sent-last, sp.failed.Load())
		last = sent
		return line
	}
}
