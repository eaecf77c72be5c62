package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/bcastdev/bcast/internal/daemon"
	"github.com/urfave/cli/v2"
)

// Exit codes, as --help lists them.
const (
	exitOK      = 0
	exitFailure = 1 // the daemon could not start or stopped on an error
	exitUsage   = 2 // bad flags, arguments or config file
)

const description = `listen serves TCP, UDP and unix-domain sockets at once from one event loop.

In echo mode (the default) each line a client sends comes back to it; the
line "quit" closes that client's connection. Each datagram is sent back to
its sender. In discard mode everything is read and dropped. In announce
mode the daemon also announces --service on the LAN (package
broadcast/discovery), answers discovery queries for it, and says goodbye
when it stops; its listeners, if any, serve echo, and the first TCP (else
UDP) listener's port is the one announced.

SIGTERM or SIGINT: stop accepting, send the replies due, close clients
(all of them at --shutdown-timeout, or at a second signal), exit 0.
SIGHUP: reopen the --log file and re-read --config (max-clients,
idle-timeout, max-line, client-memory, shutdown-timeout, log-level).

EXIT STATUS:
   0  stopped by SIGTERM or SIGINT after a clean shutdown
   1  runtime failure (cannot bind, pid file locked or unsafe, privilege drop failed, ...)
   2  usage error (bad flag value, unknown user, uid without --run-group, bad config file, no listener)`

const (
	catListen = "Listeners"
	catServe  = "Protocol"
	catDaemon = "Daemon"
	catLog    = "Logging"
)

var listenerFlags = []cli.Flag{
	&cli.StringSliceFlag{Name: "tcp", Category: catListen, Usage: "serve TCP on `ADDR` (HOST:PORT or :PORT; repeatable)"},
	&cli.StringSliceFlag{Name: "udp", Category: catListen, Usage: "serve UDP on `ADDR` (HOST:PORT or :PORT; repeatable)"},
	&cli.StringSliceFlag{Name: "unix", Category: catListen, Usage: "serve a unix stream socket at `PATH` (@NAME: abstract; repeatable)"},
	&cli.StringSliceFlag{Name: "unixgram", Category: catListen, Usage: "serve a unix datagram socket at `PATH` (@NAME: abstract; repeatable)"},
	&cli.StringFlag{Name: "iface", Aliases: []string{"i"}, Category: catListen, Usage: "bind the TCP and UDP listeners to interface `NAME` (SO_BINDTODEVICE); followed while the daemon runs: bound again if it is deleted and made again"},
	&cli.StringFlag{Name: "device", Hidden: true, Usage: "old name of --iface"},
	&cli.StringFlag{Name: "socket-mode", Category: catListen, Value: "0666", Usage: "permission bits `MODE` (octal) of the --unix and --unixgram socket files, owned by --user"},
}

var protocolFlags = []cli.Flag{
	&cli.StringFlag{Name: "mode", Category: catServe, Value: "echo", Usage: "`MODE`: echo, discard or announce"},
	&cli.IntFlag{Name: "max-clients", Category: catServe, DefaultText: "as many as the open-file limit and --client-memory allow",
		Usage: "serve at most `N` stream clients at once; more are told so and disconnected"},
	&cli.DurationFlag{Name: "idle-timeout", Category: catServe, Value: defaultIdle, Usage: "close a connection idle for `DURATION` (0: never)"},
	&cli.IntFlag{Name: "max-line", Category: catServe, Value: 8192, Usage: "longest line in `BYTES` (a longer one gets an error and the connection closes)"},
	&cli.StringFlag{Name: "client-memory", Category: catServe, Value: cmdline.FormatSize(daemon.DefaultClientMemory),
		Usage: "hold at most `BYTES` (64KiB, 1GiB ...) for all stream clients together: replies not yet taken and unfinished lines; a client that would pass it is not read until others take their replies"},
	&cli.DurationFlag{Name: "shutdown-timeout", Category: catServe, Value: defaultShutdown, Usage: "give clients `DURATION` to finish after SIGTERM"},
}

var daemonFlags = []cli.Flag{
	&cli.StringFlag{Name: "pidfile", Category: catDaemon, Usage: "write the pid to `FILE`, locked while the daemon runs; refuse to start if another process holds the lock"},
	&cli.StringFlag{Name: "user", Category: catDaemon, Usage: "after binding, run as `USER` (name or uid)"},
	&cli.StringFlag{Name: "run-group", Category: catDaemon, Usage: "after binding, run as Unix group `GROUP` (default: the user's group)"},
	&cli.StringFlag{Name: "config", Category: catDaemon, Usage: "read settings from `FILE` (key = value), again on SIGHUP"},
}

var logFlags = []cli.Flag{
	&cli.StringFlag{Name: "log", Category: catLog, Usage: "log to `FILE` instead of stderr (reopened on SIGHUP)"},
	&cli.StringFlag{Name: "log-format", Category: catLog, Value: "text", Usage: "`FORMAT`: text or json"},
	&cli.StringFlag{Name: "log-level", Category: catLog, Value: "info", Usage: "`LEVEL`: debug, info, warn or error"},
}

// renamedFlags says what to write instead of a name that was renamed
// because bcast gives it another meaning, so its old spelling could not
// stay.
var renamedFlags = map[string]string{
	"group": "the Unix group to run as is --run-group now; --group is a multicast group in bcast",
}

// oldNames are hidden flags that keep an old spelling working for one
// release: old name -> new name. Both are read; the old one gets a note.
var oldNames = map[string]string{"device": "iface", "discovery-to": "discovery-dest", "discovery-interface": "discovery-iface"}

// newApp builds the command; tests run it in-process with their own
// writers.
func newApp(stdout, stderr io.Writer) *cli.App {
	var flags []cli.Flag
	for _, group := range [][]cli.Flag{listenerFlags, protocolFlags, replyFlags, announceFlags, daemonFlags, logFlags} {
		flags = append(flags, group...)
	}
	flags = append(flags, &cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version and the VCS revision"})
	return &cli.App{
		Name:                      "listen",
		Usage:                     "the bcast daemon: echo, discard and announce on TCP, UDP and unix sockets",
		UsageText:                 "listen [--tcp ADDR] [--udp ADDR] [--unix PATH] [--unixgram PATH] [options]",
		Description:               description,
		Flags:                     flags,
		Writer:                    stdout,
		ErrWriter:                 stderr,
		HideHelpCommand:           true,
		DisableSliceFlagSeparator: true, // a path may hold a comma
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("%s", cmdline.ParseError(flags, renamedFlags, err))
		},
		// run reports errors and picks the exit code; cli must not exit
		// the process itself (tests run the app in-process).
		ExitErrHandler: func(*cli.Context, error) {},
		HideVersion:    true, // cli's own version flag is a package variable; ours is in flags
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(stdout, cmdline.Version("listen"))
				return nil
			}
			return serve(c, stderr)
		},
	}
}

// run is main without os.Exit: SIGTERM and SIGINT end the context that the
// daemon serves under.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return exitCode(newApp(stdout, stderr).RunContext(ctx, args), stderr)
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := strings.TrimSpace(ec.Error()); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(stderr, "listen: %v\n", err)
	return exitFailure
}

func usageError(format string, args ...any) error {
	return cli.Exit("listen: "+fmt.Sprintf(format, args...)+"\nRun 'listen --help' for usage.", exitUsage)
}

func failure(format string, args ...any) error {
	return cli.Exit("listen: "+fmt.Sprintf(format, args...), exitFailure)
}
