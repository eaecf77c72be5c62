package main

import (
	"strings"
	"testing"
)

func TestDemoSendsAndListensOnLoopback(t *testing.T) {
	var out, errOut strings.Builder
	code := run([]string{"bcast", "demo", "--count", "2"}, strings.NewReader(""), &out, &errOut)
	if code != exitOK {
		t.Fatalf("bcast demo exit %d; stdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"> 127.0.0.1:", "unicast lo", "> 127.255.255.255:", "broadcast lo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(errOut.String(), "sent 4 received 4 missing 0") {
		t.Errorf("stderr lacks the exact loss summary:\n%s", errOut.String())
	}
	if code := run([]string{"bcast", "demo", "--count", "0"}, strings.NewReader(""), &out, &errOut); code != exitUsage {
		t.Errorf("--count 0: exit %d; want %d", code, exitUsage)
	}
}
