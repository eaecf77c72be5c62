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
//   - broadcast (bcast send, bcast listen): a limited broadcast out of a
//     named interface reaches every other host of its LAN once, with the
//     sender's address, the arrival interface's name and index, TTL 64 and
//     the payload, and nothing of LAN B; without --iface (no default
//     route) it fails with advice. A directed broadcast stays on its
//     subnet; one to another subnet fails naming the address. The two-NIC
//     host r fans out (--all-interfaces) a limited and a directed
//     broadcast to both LANs exactly once each, from its address on each;
//     a receiver on r reports eth0 or eth1, and --iface eth1 keeps only
//     LAN B's datagrams and counts the other as filtered. On a /22 the
//     directed broadcast goes to the /22's broadcast address.
//   - multicast: IPv4 and IPv6 groups reach the sockets that joined them
//     and no other, including a socket on a host where another program
//     joined the group on another port (IP_MULTICAST_ALL off); TTL 1
//     keeps them off LAN B. Source-specific joins (SOURCE,GROUP) take
//     only their source. Listeners sharing a port (--reuse-port) each get
//     exactly their groups' datagrams.
//   - loss counting (bcast send --seq, bcast listen --seq): with
//     nftables dropping about 30% at random on the receiver, and with a
//     tc tbf rate limit on the bridge port towards it, the summary's
//     received equals what nftables let through (less the kernel drops it
//     reports), sent is the count sent and missing is exactly sent -
//     received.
//   - truncation: datagrams around and far above --buffer are reported
//     with their real length, the captured length, truncated set exactly
//     when they did not fit, and the first bytes as sent.
//   - discovery (bcast announce, bcast discover): instances on LAN A are
//     found from a1 and from r, LAN B's from r only, each with its port,
//     text and the addresses of its own link; they are lost when their
//     namespace is deleted or their link goes down (after the TTL), and at
//     once, with a goodbye, when the announcer exits. Over IPv6 (multicast)
//     an instance is found and lost when its link goes down.
//   - SSDP (the ssdp package's Browse and Announce, against real peers):
//     miniupnpd as an Internet Gateway Device is listed by the Browser
//     with the same (USN, LOCATION) pairs gssdp-discover lists, upnpc
//     finds it, a unicast search for IGD:1 is answered in that version;
//     an Announcer on two LANs is seen by gssdp-discover on each with a
//     LOCATION on that LAN's address only, serves its description there,
//     and its byebyes reach gssdp-discover -m unavailable; search and
//     answer over ff02::c; forged or routed M-SEARCHes from off the link,
//     and ones to the subnet broadcast in a victim's name, draw nothing,
//     a victim's address to the group draws only the rate limit's burst,
//     and ssdp:all draws one answer per target.
//   - relay (bcast relay): one relay between the LANs forwards limited and
//     directed broadcasts and a group both ways exactly once, rewritten
//     for the other LAN and never back; two relays between the same LANs
//     deliver each datagram at most twice and report the loops they cut.
//   - listen daemon: TCP lines echoed, "quit" closing one connection and
//     no other, half-close answered then closed, UDP echoes coming back
//     from the address the client sent to (also a second address on the
//     same interface), SIGINT ending the daemon with status 0.

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
