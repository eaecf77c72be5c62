package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/urfave/cli/v2"
)

// envVar is an environment variable that stands in for a flag of some
// commands when the command line does not give the flag.
type envVar struct {
	name     string
	flag     string
	commands []string
}

// envVars is the one list of them: the commands read it, --help prints it,
// and errors about a value taken from one name the variable.
var envVars = []envVar{
	{envTo, "to", []string{"send", "ping"}},
	{envListen, "listen", []string{"listen", "echo"}},
	{envIface, "iface", []string{"send", "listen", "echo", "ping", "doctor", "ifaces", "discover", "announce"}},
	{envGroup, "group", []string{"listen", "echo", "relay", "doctor"}},
	{envTTL, "ttl", []string{"send", "ping", "relay"}},
	{envPort, "port", []string{"relay", "doctor"}},
	{envJSON, "json", []string{"send", "listen", "echo", "ping", "relay", "discover", "announce", "ifaces", "doctor", "bench"}},
	{envService, "service", []string{"discover", "announce"}},
}

// envFor is the variable that stands in for --flag of command cmd, or "".
func envFor(cmd, flag string) string {
	for _, e := range envVars {
		if e.flag == flag && slices.Contains(e.commands, cmd) {
			return e.name
		}
	}
	return ""
}

// envHelp is the ENVIRONMENT section of bcast --help.
func envHelp() string {
	var b strings.Builder
	b.WriteString("ENVIRONMENT (a flag given on the command line wins; an error names the variable):\n")
	for _, e := range envVars {
		fmt.Fprintf(&b, "   %-14s %-10s (%s)\n", e.name, "--"+e.flag, strings.Join(e.commands, ", "))
	}
	return strings.TrimRight(b.String(), "\n")
}

// metaEnv is the key of app.Metadata under which a command records which
// flags took their value from the environment (flag name -> variable).
const metaEnv = "env"

// applyEnv gives each flag of the command that the command line left out
// the value of its environment variable, if set, and records where it came
// from so that an error about it names the variable. A value the flag's
// type refuses is a usage error naming the variable.
func applyEnv(c *cli.Context, cmd *cli.Command) error {
	from := map[string]string{}
	c.App.Metadata[metaEnv] = from
	for _, f := range cmd.Flags {
		name := f.Names()[0]
		env := envFor(cmd.Name, name)
		if env == "" || c.IsSet(name) {
			continue
		}
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			continue
		}
		if err := c.Set(name, v); err != nil {
			return fmt.Errorf("%s=%s (for --%s): %s", env, cmdline.Quote(v), name, cmdline.ValueProblem(f, v))
		}
		from[name] = env
	}
	return nil
}

// flagRef names where the value of --name came from: "--name", or
// "BCAST_X (for --name)" when the environment gave it.
func flagRef(c *cli.Context, name string) string {
	if env := fromEnv(c, name); env != "" {
		return env + " (for --" + name + ")"
	}
	return "--" + name
}

// flagVal is flagRef with the value: "--name VALUE", or
// "BCAST_X=VALUE (for --name)".
func flagVal(c *cli.Context, name string, v any) string {
	s := cmdline.Quote(fmt.Sprint(v))
	if env := fromEnv(c, name); env != "" {
		return env + "=" + s + " (for --" + name + ")"
	}
	return "--" + name + " " + s
}

func fromEnv(c *cli.Context, name string) string {
	if c == nil || c.App == nil {
		return ""
	}
	m, _ := c.App.Metadata[metaEnv].(map[string]string)
	return m[name]
}

// checkCommon checks what holds for every flag of every command: a
// duration is not negative (none of them means anything below zero), and a
// number is a finite one (ParseFloat takes NaN and Inf).
func checkCommon(c *cli.Context, cmd *cli.Command) error {
	for _, f := range cmd.Flags {
		name := f.Names()[0]
		switch f.(type) {
		case *cli.DurationFlag:
			if d := c.Duration(name); d < 0 {
				return fmt.Errorf("%s: must not be negative", flagVal(c, name, d))
			}
		case *cli.Float64Flag:
			if v := c.Float64(name); math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%s: not a finite number", flagVal(c, name, v))
			}
		}
	}
	return nil
}

// withEnvUsage appends " [$VAR]" to the usage of each flag that has an
// environment variable in this command, as --help shows it.
func withEnvUsage(cmd *cli.Command) {
	for _, f := range cmd.Flags {
		env := envFor(cmd.Name, f.Names()[0])
		if env == "" {
			continue
		}
		suffix := " [$" + env + "]"
		switch f := f.(type) {
		case *cli.StringFlag:
			f.Usage += suffix
		case *cli.StringSliceFlag:
			f.Usage += suffix
		case *cli.BoolFlag:
			f.Usage += suffix
		case *cli.IntFlag:
			f.Usage += suffix
		case *cli.UintFlag:
			f.Usage += suffix
		default:
			panic(fmt.Sprintf("bcast: --%s of %s: no env usage for %T", f.Names()[0], cmd.Name, f))
		}
	}
}

// ifaceCheck checks an interface named by --flag: exit 2 naming the flag
// (or its variable) and listing the interfaces there are.
func ifaceCheck(c *cli.Context, flag, name string) error {
	return cmdline.CheckInterface(flagRef(c, flag), name)
}

// inRange checks a whole-number flag value in its real type, so nothing
// wraps on the way to a narrower one.
func inRange[T int | int64 | uint | uint64](c *cli.Context, flag string, v, lo, hi T) error {
	if v < lo || v > hi {
		return fmt.Errorf("%s: must be %d to %d", flagVal(c, flag, v), lo, hi)
	}
	return nil
}

// oldName is a hidden flag that keeps an old spelling of --now working for
// one release (where the old name means nothing else anywhere); the command
// reads both and says the name changed.
func oldName(old, now string) cli.Flag {
	return &cli.StringSliceFlag{Name: old, Hidden: true, Usage: "old name of --" + now}
}

// renamedFlags says, per command, what to write instead of a name that
// was renamed because it meant something else in another command, so that
// its old spelling could not stay.
var renamedFlags = map[string]map[string]string{
	"relay":    {"to": "the interfaces to send out of are --to-iface now; --to is an ADDR:PORT in send and ping"},
	"announce": {"ttl": "how long browsers keep the instance is --lifetime now; --ttl is a hop count in send, ping and relay"},
}
