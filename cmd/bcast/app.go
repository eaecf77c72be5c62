package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/urfave/cli/v2"
)

// Exit codes, as bcast --help lists them.
const (
	exitOK      = 0
	exitFailure = 1 // runtime failure: a send failed, a socket could not be opened, ...
	exitUsage   = 2 // bad flag, bad value, unknown command
	exitTimeout = 3 // --timeout passed with nothing received
)

// Environment variables for the common flags; a flag on the command line wins.
const (
	envTo      = "BCAST_TO"
	envListen  = "BCAST_LISTEN"
	envIface   = "BCAST_IFACE"
	envGroup   = "BCAST_GROUP"
	envTTL     = "BCAST_TTL"
	envPort    = "BCAST_PORT"
	envJSON    = "BCAST_JSON"
	envService = "BCAST_SERVICE"
)

const appDescription = `bcast sends, receives, relays and diagnoses UDP broadcast and multicast.

   bcast send --to 255.255.255.255:9999 --iface eth0 --message hello
   bcast listen --listen :9999
   bcast listen --listen :5000 --group 239.1.2.3 --json
   bcast send --to 239.1.2.3:5000 --seq --count 1000 --rate 200 &
   bcast listen --listen :5000 --group 239.1.2.3 --seq --expect 1000
   bcast echo --listen :7777            and elsewhere   bcast ping --to HOST:7777
   bcast doctor --port 5000 --group 239.1.2.3
   bcast ifaces
   bcast bench --size 1400 --gso --gro  (send -> listen over loopback: datagrams/s, loss)

EXIT STATUS:
   0  success (also: stopped with Ctrl-C)
   1  runtime failure (a send failed, a socket could not be opened, doctor found a FAIL)
   2  usage error (unknown command or flag, a bad value; the message names the flag)
   3  timeout: --timeout passed and nothing was received`

const completionHint = "Shell completion: source <(bcast completion bash)   or   bcast completion zsh"

// newApp builds the command tree; tests run it in-process with their own
// writers (and, for send, app.Reader as standard input).
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{}
	*app = cli.App{
		Name:                 "bcast",
		Usage:                "UDP broadcast and multicast from the command line",
		UsageText:            "bcast COMMAND [options]",
		Description:          appDescription + "\n\n" + envHelp() + "\n\n" + completionHint,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		// --group takes SOURCE,GROUP: commas are not list separators.
		DisableSliceFlagSeparator: true,
		Suggest:                   true,
		Commands: []*cli.Command{
			sendCommand(), listenCommand(), echoCommand(), pingCommand(),
			relayCommand(), discoverCommand(), announceCommand(),
			connectCommand(), resolveCommand(), ifacesCommand(), doctorCommand(), completionCommand(), demoCommand(), benchCommand(),
		},
		// run reports errors and picks the exit code; cli must not exit
		// the process itself (tests run the app in-process).
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("bcast", "%s", cmdline.ParseError(app.Flags, nil, err))
		},
		HideVersion: true, // cli's own version flag is a package variable; ours is below
		Flags:       []cli.Flag{&cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version and the VCS revision"}},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(c.App.Writer, cmdline.Version("bcast"))
				return nil
			}
			if c.Args().Present() {
				return usageError("bcast", "unknown command %q", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	// cli's default completer looks at os.Args; this one looks at the tree.
	app.BashComplete = func(c *cli.Context) {
		for _, cmd := range app.Commands {
			if !cmd.Hidden {
				fmt.Fprintln(c.App.Writer, cmd.Name)
			}
		}
	}
	ownHelp(app)
	app.Metadata = map[string]any{}
	for _, cmd := range app.Commands {
		name := "bcast " + cmd.Name
		cmd.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return usageError(name, "%s", cmdline.ParseError(cmd.Flags, renamedFlags[cmd.Name], err))
		}
		withEnvUsage(cmd)
		if cmd.Before == nil {
			cmd.Before = func(c *cli.Context) error {
				if err := applyEnv(c, cmd); err != nil {
					return usageError(name, "%v", err)
				}
				if err := checkCommon(c, cmd); err != nil {
					return usageError(name, "%v", err)
				}
				return nil
			}
		}
		if cmd.BashComplete == nil {
			cmd.BashComplete = completeFlags(cmd)
		}
		if cmd.Action == nil {
			panic("bcast: command " + cmd.Name + " has no action")
		}
		if cmd.Name == "discover" || cmd.Name == "announce" {
			followLinkIfaces(cmd)
		}
	}
	return app
}

// ownHelp gives this app its own --help flags and help command. cli's
// built-in ones are package-level variables that every App writes to while
// it parses, so two Apps running at once in one process (bcast demo, the
// in-process tests) race on them. cli still finds our flag by the name
// "help" and prints the same help.
func ownHelp(app *cli.App) {
	app.Commands = append(app.Commands, &cli.Command{
		Name:      "help",
		Aliases:   []string{"h"},
		Usage:     "show the commands, or the help of one command",
		ArgsUsage: "[COMMAND]",
		Description: `bcast help          the commands, exit status and environment
   bcast help send     the options of one command, with examples`,
		// Its arguments are command names; "bcast help --help" is read as
		// a question about help itself.
		SkipFlagParsing: true,
		HideHelp:        true,
		Action: func(c *cli.Context) error {
			topic := c.Args().First()
			switch topic {
			case "":
				return cli.ShowAppHelp(c)
			case "--help", "-h":
				topic = "help"
			}
			if c.App.Command(topic) == nil {
				return usageError("bcast", "no command %q (bcast help lists the commands)", topic)
			}
			return cli.ShowCommandHelp(c, topic)
		},
	})
	helpFlag := func() cli.Flag {
		return &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
	}
	app.HideHelp = true
	app.Flags = append(app.Flags, helpFlag())
	for _, cmd := range app.Commands {
		if cmd.Name != "help" {
			cmd.HideHelp = true
			cmd.Flags = append(cmd.Flags, helpFlag())
		}
	}
}

// run is main without os.Exit: Ctrl-C and SIGTERM end the context the
// commands run under, and they finish cleanly (summaries included).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if len(args) > 1 && oneProc[args[1]] && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	app := newApp(stdout, stderr)
	app.Reader = stdin
	return exitCode(app.RunContext(ctx, reorder(app, args)), stderr)
}

// reorder lets a command take its options after its arguments, as nc and
// avahi-browse do (bcast connect HOST:PORT --crlf, bcast discover
// _http._tcp --proto mdns): the flag parser stops at the first argument
// that is not a flag.
func reorder(app *cli.App, args []string) []string {
	if len(args) > 2 {
		if cmd := app.Command(args[1]); cmd != nil && cmd.Name != "help" {
			// Shell completion adds its flag last, and cli looks for it
			// only there: moved before the arguments it would be an
			// unknown flag (bcast discover _http._tcp <TAB>).
			tail, complete := args[2:], []string(nil)
			if n := len(tail); tail[n-1] == completionFlag {
				tail, complete = tail[:n-1], tail[n-1:]
			}
			return append(append(args[:2:2], flagsFirst(cmd, tail)...), complete...)
		}
	}
	return args
}

// completionFlag is the flag cli's completion scripts append.
const completionFlag = "--generate-bash-completion"

// flagsFirst moves the arguments of cmd that are not flags (nor flag
// values) after the flags, since the flag parser stops at the first one.
// "--" ends the flags, as usual.
func flagsFirst(cmd *cli.Command, args []string) []string {
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		_, isBool := f.(*cli.BoolFlag)
		for _, n := range f.Names() {
			takesValue[n] = !isBool
		}
	}
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(append(flags, "--"), append(rest, args[i+1:]...)...)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			rest = append(rest, a)
		}
	}
	return append(flags, rest...)
}

// oneProc are the commands whose work is one goroutine's send or receive
// loop; they run with GOMAXPROCS=1 unless the environment sets it. The
// runtime keeps every socket in its epoll set, and while some goroutine
// waits on a descriptor (listen's interface watch on netlink) or a timer is
// pending (--idle, --timeout, the statistics line, send's pacing), the
// thread of an idle P waits in epoll_wait, where the kernel wakes it for
// every datagram queued to the socket or freed after sending, though the
// loop is busy with them anyway. With one P there is no idle P while the
// loop runs. Measured on 2 CPUs: under a 2 s flood listen made 3x the
// epoll_wait calls, 1.5x the recvmmsg calls and 8x the CPU migrations with
// two Ps, for the same datagrams; send --rate 200000 used 13% more CPU.
// A flood from send (no timer, no waiter) is the same either way.
var oneProc = map[string]bool{"send": true, "listen": true, "recv": true, "bench": true}

// exitCode prints err and maps it to an exit code. Errors from cli itself
// that are not ExitCoders (a missing flag value caught before OnUsageError,
// a bad help topic) are usage errors.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := strings.TrimSpace(ec.Error()); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		if strings.HasPrefix(ec.Error(), "No help topic") {
			return exitUsage // cli's own code 3 for "help NOSUCH" is not our timeout
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(stderr, "bcast: %v\n", err)
	return exitUsage
}

// usageError is exit code 2, with the command's name and a pointer to help.
func usageError(cmd, format string, args ...any) error {
	return cli.Exit(fmt.Sprintf("%s: %s\nRun '%s --help' for usage.", cmd, fmt.Sprintf(format, args...), cmd), exitUsage)
}

// failure is exit code 1.
func failure(cmd, format string, args ...any) error {
	return cli.Exit(cmd+": "+fmt.Sprintf(format, args...), exitFailure)
}

// completeFlags lists a command's flags (and subcommands) for shell
// completion; the shell filters them by what was typed.
func completeFlags(cmd *cli.Command) cli.BashCompleteFunc {
	return func(c *cli.Context) {
		w := c.App.Writer
		for _, sub := range cmd.Subcommands {
			fmt.Fprintln(w, sub.Name)
		}
		for _, f := range cmd.Flags {
			for _, n := range f.Names() {
				if len(n) == 1 {
					fmt.Fprintln(w, "-"+n)
				} else {
					fmt.Fprintln(w, "--"+n)
				}
			}
		}
	}
}
