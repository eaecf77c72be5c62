package netns

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// rootReason is the sentence every skip or failure for missing privilege
// starts with, so a reader of `go test -v` output knows what to do.
const rootReason = "integration tests need root to create network namespaces; run as root or in CI"

// RequireRoot stops the test unless the process can build a Lab: effective
// uid 0 with CAP_SYS_ADMIN (setns, mounting /run/netns) and CAP_NET_ADMIN
// (links and addresses), and iproute2's ip on PATH. Outside CI the test is
// skipped with the reason; with CI=true it fails, because a CI job that
// silently skips its integration tests has lost them.
func RequireRoot(t testing.TB) {
	t.Helper()
	requirePrivilege(t, missingPrivilege(), os.Getenv("CI") == "true")
}

func requirePrivilege(t testing.TB, missing string, ci bool) {
	t.Helper()
	if missing == "" {
		return
	}
	msg := rootReason + " (" + missing + ")"
	if ci {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// missingPrivilege names the first thing that keeps this process from
// building a Lab, or returns "".
func missingPrivilege() string {
	if uid := os.Geteuid(); uid != 0 {
		return fmt.Sprintf("effective uid is %d", uid)
	}
	// Root in a container may lack capabilities, so ask the kernel.
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // version 3 uses two 32-bit words
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Sprintf("capget: %v", err)
	}
	for _, c := range []struct {
		bit  int
		name string
	}{
		{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"},
		{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"},
	} {
		if data[c.bit/32].Effective&(1<<(c.bit%32)) == 0 {
			return "missing " + c.name
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "iproute2's ip is not on PATH"
	}
	return ""
}
