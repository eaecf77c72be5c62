package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/bcastdev/bcast/internal/cmdline"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// ReadyTimeout bounds every wait for something the Lab created to
	// become usable (a link to get carrier, an address to become bindable,
	// a bridge port to forward, a killed process to exit).
	ReadyTimeout = 5 * time.Second

	// RunTimeout bounds Host.Run and Lab.Shell when the caller's context
	// has no deadline of its own.
	RunTimeout = 30 * time.Second

	// ipTimeout bounds each ip command the Lab runs for itself.
	ipTimeout = 10 * time.Second
)

// netnsDir is where iproute2 keeps the bind mounts that name namespaces.
const netnsDir = "/var/run/netns"

// A Lab owns every namespace, link and process that one test creates, and
// removes them in t.Cleanup, last created first, even after a failure.
//
// Methods that build things (LAN, Host, Attach, Delete, NIC.SetUp ...) call
// t.Fatal on error and so belong on the test goroutine. Host.Do, Host.Run,
// Host.Command, Host.Sysctl and Lab.Shell return errors and are safe to
// call from any goroutine.
type Lab struct {
	t      testing.TB
	prefix string

	mu     sync.Mutex
	names  map[string]bool // namespace names this Lab holds now
	undo   []undoStep      // in creation order; cleanup runs it backwards
	hosts  []*Host
	peers  int // numbers bridge ports whose readable name is too long
	closed bool
}

type undoStep struct {
	what string
	fn   func() error
}

// New returns an empty Lab whose namespaces are all named "<prefix>-...",
// with a prefix of "b" and four random hex digits that no namespace on the
// machine uses yet. New skips or fails the test as RequireRoot does.
func New(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	prefix, err := pickPrefix()
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{t: t, prefix: prefix, names: map[string]bool{}}
	t.Cleanup(l.cleanup)
	t.Logf("netns: lab %s: namespaces are named %s-*", prefix, prefix)
	return l
}

// Prefix returns the string every namespace name of this Lab starts with.
func (l *Lab) Prefix() string { return l.prefix }

// prefixes holds the prefixes of this process's live Labs, so that
// parallel tests never draw the same one; other processes are kept apart
// by the check against existing namespace names.
var prefixes = struct {
	sync.Mutex
	inUse map[string]bool
}{inUse: map[string]bool{}}

func pickPrefix() (string, error) {
	prefixes.Lock()
	defer prefixes.Unlock()
	entries, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("netns: list %s: %w", netnsDir, err)
	}
	for range 64 {
		p := fmt.Sprintf("b%04x", rand.N(0x10000))
		taken := false
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), p+"-") {
				taken = true
				break
			}
		}
		if !taken && !prefixes.inUse[p] {
			prefixes.inUse[p] = true
			return p, nil
		}
	}
	return "", fmt.Errorf("netns: no free lab prefix after 64 tries; %s holds %d namespaces", netnsDir, len(entries))
}

// reserve claims the namespace name for name within this Lab.
func (l *Lab) reserve(kind, name string) (string, error) {
	if err := checkName(kind, name); err != nil {
		return "", err
	}
	ns := l.prefix + "-" + name
	if kind == "LAN" {
		ns = l.prefix + "-lan-" + name
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return "", fmt.Errorf("netns: lab %s is already cleaned up; cannot add %s %q", l.prefix, kind, name)
	}
	if l.names[ns] {
		return "", fmt.Errorf("netns: lab %s already has a namespace %s (%s %q)", l.prefix, ns, kind, name)
	}
	l.names[ns] = true
	return ns, nil
}

func (l *Lab) release(ns string) {
	l.mu.Lock()
	delete(l.names, ns)
	l.mu.Unlock()
}

func (l *Lab) pushUndo(what string, fn func() error) {
	l.mu.Lock()
	l.undo = append(l.undo, undoStep{what, fn})
	l.mu.Unlock()
}

// cleanup kills the processes first, so nothing holds a namespace busy,
// then undoes every step in reverse. A failed step is reported and the
// rest still run.
func (l *Lab) cleanup() {
	l.mu.Lock()
	l.closed = true
	hosts, undo := l.hosts, l.undo
	l.undo = nil
	l.mu.Unlock()
	for _, h := range hosts {
		if err := h.killProcs(); err != nil {
			l.t.Errorf("netns: cleanup: %v", err)
		}
	}
	failed := false
	for i := len(undo) - 1; i >= 0; i-- {
		if err := undo[i].fn(); err != nil {
			l.t.Errorf("netns: cleanup: %s: %v", undo[i].what, err)
			failed = true
		}
	}
	if !failed {
		// A prefix with namespaces left over must not be drawn again.
		prefixes.Lock()
		delete(prefixes.inUse, l.prefix)
		prefixes.Unlock()
	}
}

func (l *Lab) logf(format string, args ...any) {
	l.t.Helper()
	l.t.Logf(format, args...)
}

// ip runs one ip command, or several as one `ip -batch` process, inside the
// namespace ns ("" for the root namespace). Batching is what keeps a whole
// topology to a few dozen short-lived processes.
func (l *Lab) ip(ns string, cmds ...[]string) error {
	l.t.Helper()
	_, err := l.ipOutput(ns, cmds...)
	return err
}

func (l *Lab) ipOutput(ns string, cmds ...[]string) ([]byte, error) {
	l.t.Helper()
	argv := []string{"ip"}
	if ns != "" {
		argv = append(argv, "-n", ns)
	}
	var stdin, shown string
	if len(cmds) == 1 {
		argv = append(argv, cmds[0]...)
		shown = cmdline.ShellQuote(argv)
	} else {
		argv = append(argv, "-batch", "-")
		var b strings.Builder
		for _, c := range cmds {
			// Every token was validated by nameOK or printed from a
			// netip value, so a space-joined line is exact.
			b.WriteString(strings.Join(c, " "))
			b.WriteByte('\n')
		}
		stdin = b.String()
		shown = cmdline.ShellQuote(argv) + " <<'EOF'\n" + stdin + "EOF"
	}
	l.logf("$ %s", shown)
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %v", err, ipTimeout)
		}
		return out, fmt.Errorf("netns: %s: %w: %s", cmdline.ShellQuote(argv), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Shell runs a command in the root namespace, logs it as `$ ...`, and
// returns its combined output. It is meant for ip, tc and nft aimed at a
// Lab namespace (`ip -n NS ...`, `tc -n NS ...`, `ip netns exec NS nft
// ...`); anything it changes outside the Lab's namespaces is the caller's to
// undo. Without a deadline on ctx, RunTimeout applies.
func (l *Lab) Shell(ctx context.Context, name string, args ...string) ([]byte, error) {
	l.t.Helper()
	return l.run(ctx, append([]string{name}, args...))
}

func (l *Lab) run(ctx context.Context, argv []string) ([]byte, error) {
	l.t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, RunTimeout)
		defer cancel()
	}
	line := cmdline.ShellQuote(argv)
	l.t.Logf("$ %s", line)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// A grandchild that inherits the output pipe must not hold Run past
	// the context.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", err, ctx.Err())
		}
		return out, fmt.Errorf("netns: %s: %w: %s", line, err, bytes.TrimSpace(out))
	}
	return out, nil
}
