package netns

import (
	"context"
	"errors"
	"fmt"
	"github.com/bcastdev/bcast/internal/cmdline"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Host is a network namespace with lo up, standing for one machine.
type Host struct {
	lab  *Lab
	name string
	ns   *namespace

	// Guarded by lab.mu.
	nics  []*NIC
	procs []*exec.Cmd
}

// hostSysctls are set in every Host before any link exists, so each
// interface created later inherits them:
//   - no duplicate address detection, so link-local addresses are usable at
//     once instead of about a second later;
//   - IPv6 addresses survive NIC.SetDown, as IPv4 ones do;
//   - no forwarding, whatever the root namespace has (IPv4 settings of a
//     new namespace are copied from it).
var hostSysctls = [][2]string{
	{"net.ipv6.conf.all.accept_dad", "0"},
	{"net.ipv6.conf.default.accept_dad", "0"},
	{"net.ipv6.conf.default.keep_addr_on_down", "1"},
	{"net.ipv4.ip_forward", "0"},
	{"net.ipv6.conf.all.forwarding", "0"},
}

// Host creates a namespace named "<prefix>-<name>" with lo up.
func (l *Lab) Host(name string) *Host {
	l.t.Helper()
	h, err := l.newHost(name)
	if err != nil {
		l.t.Fatal(err)
	}
	return h
}

func (l *Lab) newHost(name string) (*Host, error) {
	l.t.Helper()
	nsName, err := l.reserve("host", name)
	if err != nil {
		return nil, err
	}
	ns, err := l.addNamespace(nsName)
	if err != nil {
		return nil, err
	}
	h := &Host{lab: l, name: name, ns: ns}
	if err := l.setSysctls(ns, hostSysctls); err != nil {
		return nil, err
	}
	if err := l.ip(nsName, []string{"link", "set", "lo", "up"}); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	return h, nil
}

// Name returns the name given to Lab.Host.
func (h *Host) Name() string { return h.name }

// NS returns the `ip netns` name of the host's namespace.
func (h *Host) NS() string { return h.ns.name }

func (h *Host) String() string { return "host " + h.name + " (" + h.ns.name + ")" }

// NIC returns the host's interface named ifname, or nil.
func (h *Host) NIC(ifname string) *NIC {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	for _, n := range h.nics {
		if n.name == ifname {
			return n
		}
	}
	return nil
}

// NICs returns the host's interfaces in the order they were attached.
func (h *Host) NICs() []*NIC {
	h.lab.mu.Lock()
	defer h.lab.mu.Unlock()
	return append([]*NIC(nil), h.nics...)
}

// Do runs fn on a goroutine locked to an OS thread that has entered the
// host's namespace, and returns fn's error. Everything fn does through
// system calls on that thread happens in the host: creating sockets,
// net.Interfaces, reading /proc/sys/net. A socket keeps the namespace it
// was created in, so a net.PacketConn opened inside fn can be used from
// any goroutine after Do returns. Goroutines that fn starts do not run in
// the host; neither does DNS resolution or anything else the runtime
// hands to another thread. fn must not call t.Fatal or t.FailNow (Do then
// returns an error saying so); a panic in fn is re-raised by Do.
func (h *Host) Do(fn func() error) error {
	return h.ns.do(fn)
}

// Sysctl sets a net.* sysctl inside the host, e.g.
// Sysctl("net.ipv4.conf.eth0.rp_filter", "0"). The value is written through
// /proc/sys from a thread inside the namespace; the log shows the
// equivalent sysctl command.
func (h *Host) Sysctl(key, value string) error {
	h.lab.t.Helper()
	return h.lab.setSysctls(h.ns, [][2]string{{key, value}})
}

// Run runs `ip netns exec NS name args...` and returns its combined
// output; the error names the command and carries the output. Without a
// deadline on ctx, RunTimeout applies.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	h.lab.t.Helper()
	if h.ns.gone() {
		return nil, fmt.Errorf("netns: run %s on %s: %w", name, h, errDeleted)
	}
	return h.lab.run(ctx, append([]string{"ip", "netns", "exec", h.ns.name, name}, args...))
}

// Command returns `ip netns exec NS name args...` for a long-running
// program: the caller sets its I/O, Starts it and Waits for it. ip execs
// the program, so the PID is the program's own. If it is still running
// when the Lab is cleaned up or the host is deleted, it is killed by that
// PID (through os.Process, which cannot hit a reused PID) and the cleanup
// waits, bounded, for it to exit. Call Start from the test goroutine (or
// synchronize with it) so the Lab sees the started process. The process
// also gets SIGKILL if the thread that started it dies, which covers a
// test binary that is killed before its cleanups run.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	h.lab.t.Helper()
	argv := append([]string{"ip", "netns", "exec", h.ns.name, name}, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	h.lab.t.Logf("$ %s &", cmdline.ShellQuote(argv))
	l := h.lab
	l.mu.Lock()
	switch {
	case h.ns.gone():
		cmd.Err = fmt.Errorf("netns: command %s on %s: %w", name, h, errDeleted)
	case l.closed:
		cmd.Err = fmt.Errorf("netns: command %s on %s: lab %s is already cleaned up", name, h, l.prefix)
	default:
		h.procs = append(h.procs, cmd)
	}
	l.mu.Unlock()
	return cmd
}

// killProcs kills the host's started commands that have not been waited
// for, and waits until they have exited.
func (h *Host) killProcs() error {
	l := h.lab
	l.mu.Lock()
	cmds := h.procs
	h.procs = nil
	l.mu.Unlock()
	var errs []error
	for _, c := range cmds {
		if c.Process == nil {
			continue // never started
		}
		err := c.Process.Kill()
		if errors.Is(err, os.ErrProcessDone) {
			continue
		}
		pid := c.Process.Pid
		l.t.Logf("$ kill -KILL %d  # %s", pid, cmdline.ShellQuote(c.Args))
		if err != nil {
			errs = append(errs, fmt.Errorf("kill pid %d (%s): %w", pid, cmdline.ShellQuote(c.Args), err))
			continue
		}
		if err := waitExit(pid, ReadyTimeout); err != nil {
			errs = append(errs, fmt.Errorf("pid %d (%s): %w", pid, cmdline.ShellQuote(c.Args), err))
		}
	}
	return errors.Join(errs...)
}

// waitExit waits until process pid has exited (a zombie counts: it has
// already left its namespaces). The caller has just signalled pid through
// its os.Process, so the pid cannot have been reused.
func waitExit(pid int, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		ms := int(time.Until(deadline).Milliseconds())
		if ms <= 0 {
			return fmt.Errorf("still running %v after SIGKILL", timeout)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("poll", err)
		}
		if n > 0 {
			return nil
		}
	}
}

// Delete removes a host mid-test, as when a machine is switched off: its
// commands are killed, its interfaces deleted (so the LAN bridges lose
// those ports at once, even if a socket made in Do keeps the namespace
// alive), and its namespace deleted. Its name may then be used again.
func (l *Lab) Delete(h *Host) {
	l.t.Helper()
	if err := l.deleteHost(h); err != nil {
		l.t.Fatal(err)
	}
}

func (l *Lab) deleteHost(h *Host) error {
	l.t.Helper()
	if h.lab != l {
		return fmt.Errorf("netns: delete %s: it belongs to lab %s, not %s", h, h.lab.prefix, l.prefix)
	}
	if h.ns.gone() {
		return fmt.Errorf("netns: delete %s: %w already", h, errDeleted)
	}
	if err := h.killProcs(); err != nil {
		return fmt.Errorf("netns: delete %s: %w", h, err)
	}
	l.mu.Lock()
	var cmds [][]string
	var nics []*NIC
	for _, n := range h.nics {
		if !n.removed {
			cmds = append(cmds, []string{"link", "delete", n.name})
			nics = append(nics, n)
		}
	}
	l.mu.Unlock()
	if len(cmds) > 0 {
		if err := l.ip(h.ns.name, cmds...); err != nil {
			return err
		}
		for _, n := range nics {
			n.markRemoved()
		}
	}
	return l.deleteNamespace(h.ns)
}
