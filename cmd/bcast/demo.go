package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/urfave/cli/v2"
)

// demoCommand runs the main job on a machine alone: a listener and two
// senders over loopback, through the same command tree a person would use,
// so that what it prints is exactly what `bcast listen` and `bcast send`
// print.
func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "send and listen on this machine alone: loopback unicast and broadcast, with loss counting",
		Description: `demo starts 'bcast listen --seq' on a free port, then sends stamped datagrams to
   it twice: to 127.0.0.1 (unicast) and to 127.255.255.255 (the loopback subnet's
   broadcast address, which needs SO_BROADCAST, as any broadcast does). It prints each
   command it runs, what the listener received (source, destination, kind, interface,
   TTL, length) and the listener's loss summary. Nothing leaves this machine.

   Each command is printed as a shell reads it, so it can be pasted to run alone.
   With --json, standard output holds only the listener's JSON lines; the
   commands and the senders' lines go to standard error.

   bcast demo
   bcast demo --count 10 --json | jq .`,
		UsageText: "bcast demo [--count N] [--json]",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Value: 3, Usage: "datagrams per sender (`N`, 1-1000)"},
			&cli.BoolFlag{Name: "json", Usage: "the listener prints JSON lines, the only thing on standard output"},
		},
		Action: runDemo,
	}
}

func runDemo(c *cli.Context) error {
	const name = "bcast demo"
	if c.NArg() > 0 {
		return usageError(name, "unexpected argument %q (demo takes only --count and --json)", c.Args().First())
	}
	count := c.Int("count")
	if count < 1 || count > 1000 {
		return usageError(name, "%s: must be 1 to 1000", flagVal(c, "count", count))
	}
	port, err := demoPort()
	if err != nil {
		return failure(name, "finding a free port: %v", err)
	}
	// The listener and the senders run at once and share the writers.
	out, errOut := &lockedWriter{w: c.App.Writer}, &lockedWriter{w: c.App.ErrWriter}
	ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
	defer cancel()

	listenArgs := []string{"bcast", "listen", "--listen", "0.0.0.0:" + port, "--seq",
		"--count", strconv.Itoa(2 * count), "--timeout", "10s"}
	if c.Bool("json") {
		listenArgs = append(listenArgs, "--json")
	}
	fmt.Fprintf(errOut, "$ %s &\n", cmdline.ShellQuote(listenArgs))

	// The listener's output goes through a pipe so that the senders start
	// only once it said it is listening (on stderr, or as the first JSON
	// line), and a sender never races the bind.
	ready := make(chan struct{})
	var once sync.Once
	var copying sync.WaitGroup
	watch := func(dst io.Writer) io.Writer {
		pr, pw := io.Pipe()
		copying.Add(1)
		go func() {
			defer copying.Done()
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				line := sc.Text()
				if strings.Contains(line, "listening") {
					once.Do(func() { close(ready) })
				}
				fmt.Fprintln(dst, line)
			}
			io.Copy(io.Discard, pr)
		}()
		return pw
	}
	lout, lerr := watch(out), watch(errOut)
	done := make(chan int, 1)
	go func() {
		app := newApp(lout, lerr)
		code := exitCode(app.RunContext(ctx, listenArgs), lerr)
		lout.(*io.PipeWriter).Close()
		lerr.(*io.PipeWriter).Close()
		copying.Wait() // every line the listener printed is out before we return
		done <- code
	}()
	select {
	case <-ready:
	case code := <-done:
		return cli.Exit(fmt.Sprintf("%s: the listener stopped before it was ready (exit %d)", name, code), exitFailure)
	case <-time.After(5 * time.Second):
		cancel()
		<-done
		return failure(name, "the listener did not start within 5s")
	}

	// With --json, standard output is the listener's JSON alone: the
	// senders' lines go to standard error, as the printed command says.
	sendOut, redirect := io.Writer(out), ""
	if c.Bool("json") {
		sendOut, redirect = errOut, " >&2"
	}
	for _, to := range []string{"127.0.0.1:" + port, "127.255.255.255:" + port} {
		args := []string{"bcast", "send", "--to", to, "--seq", "--count", strconv.Itoa(count), "--interval", "20ms", "--message", "hello from bcast demo"}
		fmt.Fprintf(errOut, "$ %s%s\n", cmdline.ShellQuote(args), redirect)
		if code := exitCode(newApp(sendOut, errOut).RunContext(ctx, args), errOut); code != exitOK {
			cancel()
			<-done
			return cli.Exit(fmt.Sprintf("%s: %s failed (exit %d)", name, strings.Join(args[1:], " "), code), code)
		}
	}
	select {
	case code := <-done:
		if code != exitOK {
			return cli.Exit(fmt.Sprintf("%s: the listener ended with exit %d", name, code), code)
		}
	case <-ctx.Done():
		return failure(name, "the listener did not finish: %v", ctx.Err())
	}
	return nil
}

// demoPort asks the kernel for a port no UDP socket holds. The listener
// binds it a moment later; on a machine alone nothing takes it meanwhile.
func demoPort() (string, error) {
	s, err := dgram.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return "", err
	}
	defer s.Close()
	a, err := s.Sockname()
	if err != nil {
		return "", err
	}
	return strconv.Itoa(int(a.AddrPort.Port())), nil
}

// lockedWriter serialises writes from the listener and the senders.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
