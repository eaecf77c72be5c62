package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// freeUDPPort returns a port nothing on 127.0.0.1 is bound to now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func TestAnnounceDiscoverLoopback(t *testing.T) {
	port := fmt.Sprint(freeUDPPort(t))
	dest := "127.255.255.255:" + port
	link := []string{"--discovery-port", port, "--dest", dest}
	a, first := start(t, append([]string{"announce", "--service", "bcast-test", "--instance", "one", "--port", "4242",
		"--text", "k=v", "--interval", "200ms", "--json"}, link...)...)
	if first["type"] != "announcing" || first["instance"] != "one" {
		t.Fatalf("announce said %v", first)
	}
	r := runApp(t, "", append([]string{"discover", "--service", "bcast-test", "--timeout", "1500ms", "--json"}, link...)...)
	if r.code != 0 {
		t.Fatalf("discover: exit %d\n%s", r.code, r.stderr)
	}
	found := strings.Split(strings.TrimSpace(r.stdout), "\n")[0]
	for _, want := range []string{`"event":"found"`, `"service":"bcast-test"`, `"instance":"one"`, `"port":4242`, `"text":{"k":"v"}`} {
		if !strings.Contains(found, want) {
			t.Errorf("first event lacks %s: %s", want, found)
		}
	}
	a.interrupt()
	lines, res := a.rest()
	if res.code != 0 || len(ofType(lines, "summary")) != 1 {
		t.Errorf("announce after Ctrl-C: exit %d, lines %v", res.code, lines)
	}
}

func TestDiscoverNothingIsTimeout(t *testing.T) {
	port := fmt.Sprint(freeUDPPort(t))
	r := runApp(t, "", "discover", "--service", "nobody-here", "--timeout", "300ms",
		"--discovery-port", port, "--dest", "127.255.255.255:"+port)
	if r.code != exitTimeout || !strings.Contains(r.stderr, "nothing found") {
		t.Errorf("exit %d; want %d\n%s", r.code, exitTimeout, r.stderr)
	}
}
