package netns

import (
	"errors"
	"fmt"
	"github.com/bcastdev/bcast/internal/cmdline"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A namespace is one named network namespace the Lab created. It keeps an
// open descriptor so that Do enters exactly this namespace even if the
// name is later deleted and reused.
type namespace struct {
	name string

	mu      sync.RWMutex
	fd      int // -1 when not open
	deleted bool
}

var errDeleted = errors.New("namespace deleted")

// addNamespace creates the namespace and registers its deletion before
// anything else can fail, so cleanup never misses it.
func (l *Lab) addNamespace(name string) (*namespace, error) {
	l.t.Helper()
	if err := l.ip("", []string{"netns", "add", name}); err != nil {
		l.release(name)
		return nil, err
	}
	ns := &namespace{name: name, fd: -1}
	l.pushUndo("delete namespace "+name, func() error { return l.deleteNamespace(ns) })
	fd, err := unix.Open(netnsDir+"/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netns: open %s/%s: %w", netnsDir, name, err)
	}
	ns.fd = fd
	return ns, nil
}

// deleteNamespace removes the name and drops the Lab's reference. It does
// nothing the second time.
func (l *Lab) deleteNamespace(ns *namespace) error {
	l.t.Helper()
	ns.mu.Lock()
	if ns.deleted {
		ns.mu.Unlock()
		return nil
	}
	ns.deleted = true
	fd := ns.fd
	ns.fd = -1
	ns.mu.Unlock()
	if fd >= 0 {
		unix.Close(fd)
	}
	err := l.ip("", []string{"netns", "delete", ns.name})
	l.release(ns.name)
	return err
}

func (ns *namespace) gone() bool {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	return ns.deleted
}

func (ns *namespace) enter() error {
	ns.mu.RLock()
	defer ns.mu.RUnlock()
	if ns.deleted || ns.fd < 0 {
		return fmt.Errorf("netns: %s: %w", ns.name, errDeleted)
	}
	if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns: setns %s: %w", ns.name, os.NewSyscallError("setns", err))
	}
	return nil
}

// doResult carries fn's outcome back to the caller's goroutine.
type doResult struct {
	err      error
	panicked bool
	value    any
	stack    []byte
}

// do runs fn on a fresh goroutine locked to its OS thread while that thread
// is inside ns. The thread goes back to the runtime only after its original
// namespace is restored; if restoring fails the goroutine exits still
// locked, and the runtime then terminates the thread instead of reusing it.
func (ns *namespace) do(fn func() error) error {
	ch := make(chan doResult, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- doResult{err: fmt.Errorf("netns: open own namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := ns.enter(); err != nil {
			// setns failed, so the thread is still where it started.
			runtime.UnlockOSThread()
			ch <- doResult{err: err}
			return
		}
		returned := false
		var res doResult
		defer func() {
			if !returned {
				if p := recover(); p != nil {
					res = doResult{panicked: true, value: p, stack: debug.Stack()}
				} else {
					// recover is nil for runtime.Goexit, which t.Fatal
					// calls; the caller would otherwise wait forever.
					res = doResult{err: fmt.Errorf("netns: function run in %s called runtime.Goexit (t.Fatal or t.FailNow inside Do?); return an error instead", ns.name)}
				}
			}
			if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
				res.err = errors.Join(res.err, fmt.Errorf("netns: restore namespace after %s: %w; the thread is discarded", ns.name, os.NewSyscallError("setns", err)))
				ch <- res
				return // still locked: the runtime ends this thread
			}
			runtime.UnlockOSThread()
			ch <- res
		}()
		res.err = fn()
		returned = true
	}()
	r := <-ch
	if r.panicked {
		panic(fmt.Sprintf("%v\n\n[panic inside namespace %s; goroutine stack:]\n%s", r.value, ns.name, r.stack))
	}
	return r.err
}

// setSysctls writes net.* sysctls inside ns, in order, from one thread
// that has entered it, and logs the equivalent sysctl command.
func (l *Lab) setSysctls(ns *namespace, kvs [][2]string) error {
	l.t.Helper()
	argv := []string{"ip", "netns", "exec", ns.name, "sysctl", "-qw"}
	paths := make([]string, len(kvs))
	for i, kv := range kvs {
		p, err := sysctlPath(kv[0])
		if err != nil {
			return err
		}
		if strings.ContainsAny(kv[1], "\x00\n") {
			return fmt.Errorf("netns: sysctl %s: value %q has a newline or NUL", kv[0], kv[1])
		}
		paths[i] = p
		argv = append(argv, kv[0]+"="+kv[1])
	}
	l.logf("$ %s", cmdline.ShellQuote(argv))
	return ns.do(func() error {
		for i, kv := range kvs {
			if err := writeSysctl(paths[i], kv[1]); err != nil {
				return fmt.Errorf("netns: sysctl %s=%s in %s: %w", kv[0], kv[1], ns.name, err)
			}
		}
		return nil
	})
}

// writeSysctl writes value to a /proc/sys file. It must run inside the
// target namespace: /proc/sys/net resolves against the opening thread.
func writeSysctl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
