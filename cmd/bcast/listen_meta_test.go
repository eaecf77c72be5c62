package main

import (
	"strings"
	"testing"
)

// listen asks the kernel only for the metadata its output shows: a line per
// datagram shows everything; --quiet counts (the drop counter is read from
// the socket), --seq wants the arrival timestamp its delays are measured by; --iface
// filters by the arrival interface. --quiet waits in the kernel.
func TestListenAsksOnlyForShownMetadata(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
		wait string
	}{
		{nil, "all", "poller"},
		{[]string{"--quiet"}, "none", "kernel"},
		{[]string{"--quiet", "--seq"}, "time", "kernel"},
		{[]string{"--quiet", "--iface", "lo"}, "pktinfo", "kernel"},
	} {
		t.Run(strings.Join(append([]string{"args"}, tc.args...), " "), func(t *testing.T) {
			args := append([]string{"listen", "--listen", "127.0.0.1:0", "--json", "--timeout", "50ms", "--no-progress"}, tc.args...)
			r := runApp(t, "", args...)
			if r.code != exitTimeout {
				t.Fatalf("exit %d; want %d\n%s", r.code, exitTimeout, r.stderr)
			}
			for _, want := range []string{`"metadata":"` + tc.want + `"`, `"wait":"` + tc.wait + `"`} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("summary %s; want it to contain %s", r.stdout, want)
				}
			}
		})
	}
}
