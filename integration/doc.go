// Package integration runs the real bcast and listen commands across LANs
// built from Linux network namespaces (internal/netns), and checks what a
// user of those commands would see: which hosts a datagram reached, how
// many times, from which source, on which interface, and what the
// commands printed.
//
// The package has no API; everything is in its tests, named
// TestIntegration<what a user would see fail>.
//
// # What it covers
//
// Every test builds its own Lab, most the standard two-LAN plan of
// netns.StandardTopology: LAN A with a1..a4, LAN B with b1 and b2, and r on
// both, IPv4 and IPv6 on every link, no default route, bridges without
// multicast snooping.
//
//   - listen daemon: TCP lines echoed, "quit" closing one connection and
//     no other, half-close answered then closed, UDP echoes coming back
//     from the address the client sent to (also a second address on the
//     same interface), SIGINT ending the daemon with status 0.
//
// # Running it
//
// The tests need root (CAP_SYS_ADMIN and CAP_NET_ADMIN), iproute2 (ip, ss,
// tc) and, for the loss tests, nftables. .ci/setup installs the tools. The
// README's test command runs them with the rest:
//
//	sudo go test -race -count=1 -timeout 20m ./...
//	sudo go test -race -count=1 -v -run TestIntegration ./integration/
//
// Without root the tests skip and say why. With CI=true in the environment
// they fail instead: a CI job that silently skips them has lost them. The
// same holds for a missing tool.
//
// The commands are built once per run, into a temporary directory, the
// first time a test needs them, and with -race when the tests run with
// -race: a data race in a command fails the test that ran it. A command
// that does not build fails every test that needs it, with the compiler's
// output.
//
// # Reading a failure
//
// A failing test's log holds, in order:
//
//   - every command that built the Lab, as `$ ip ...` lines that can be
//     pasted into a root shell to rebuild it by hand (the namespaces are
//     named after the Lab's prefix, e.g. b1234-a1);
//   - each command under test as `host$ bcast ...`, with its exit status,
//     its stderr and its stdout (long output is cut in the middle);
//   - the failed expectation, naming the host, the address and the field
//     that differed, with got and want.
//
// A test killed by `go test -timeout` leaves its namespaces behind; the
// log names them and `ip netns delete NAME` removes them.
package integration
