// Package netns builds LANs out of Linux network namespaces, veth pairs and
// bridges, for integration tests that need real kernel networking:
// broadcast, multicast, several interfaces, hosts that vanish.
//
// It drives iproute2's ip (tested with 6.1; it needs `ip -n NS -batch -`
// and the bridge port state in `ip -json -details link`) and needs root
// with CAP_SYS_ADMIN and CAP_NET_ADMIN; see RequireRoot. Nothing else is
// required: no ping, tc or nft.
//
// # Model
//
// A Lab belongs to one test and owns everything that test builds.
//
//   - A LAN is a broadcast domain: bridge br0 alone in a namespace of its
//     own, with STP off (ports forward at once) and multicast snooping off
//     (every multicast frame reaches every port, so tests never wait on
//     IGMP or MLD timers). The LAN namespace has IPv6 disabled and no
//     addresses; it is a switch and sends nothing itself. A LAN carries an
//     IPv4 and an IPv6 subnet that its NICs take their addresses from.
//   - A Host is a namespace with lo up, standing for one machine. Before
//     any interface exists it gets: no IPv6 duplicate address detection
//     (link-local addresses are usable at once), IPv6 addresses kept when a
//     link goes down, and no forwarding.
//   - A NIC joins a Host to a LAN: a veth pair with one end named as the
//     test asks inside the host and the other a port of the bridge (named
//     "<host>-<ifname>" when that fits in 15 bytes, "pN" otherwise). IPv4
//     gets the LAN's prefix length and the broadcast address the kernel
//     derives from it (`brd +`); IPv6 is added nodad. Attach returns only
//     when the link has carrier, every address can be bound and the bridge
//     port forwards.
//
// Hosts get only connected routes. With no default route, a datagram to a
// subnet the host is not on fails with ENETUNREACH, and one to
// 255.255.255.255 must name its interface (SO_BINDTODEVICE, IP_PKTINFO).
//
// StandardTopology builds the two-LAN plan the integration tests share; its
// comment lists every address.
//
// # Names
//
// New picks a prefix of "b" and four hex digits that no existing namespace
// uses. Hosts live in namespaces named "<prefix>-<host>", LANs in
// "<prefix>-lan-<lan>". Interfaces exist only inside those namespaces, never
// in the root one, so their names cannot collide with the machine's or
// another Lab's, and they are limited only by the kernel's 15 bytes.
// Host and LAN names are 1-32 characters of [A-Za-z0-9_.-].
//
// # Cleanup
//
// New registers one t.Cleanup. It runs after the test's own later
// cleanups, even when the test failed or called t.Fatal, and:
//
//  1. kills every process started by Host.Command that has not been waited
//     for, through its os.Process (which holds a pidfd, so a reused PID is
//     never hit), and waits, bounded, until each has exited;
//  2. deletes the Lab's namespaces, newest first. Veth pairs and bridges
//     live only inside them and are destroyed by the kernel with them.
//
// It touches only names and processes this Lab created and recorded after
// the creating command succeeded; it never sweeps by pattern, so
// concurrent Labs, in this process or another, are safe from each other. A
// failed step is reported with t.Errorf and the rest still run.
//
// What cleanup cannot cover: a test binary killed before its cleanups run
// (`go test -timeout` panics, SIGKILL). Started commands then receive
// SIGKILL from the kernel (Pdeathsig), but the namespaces stay; they are
// named with the Lab's prefix, printed at the start of the test log, and
// removed with `ip netns delete NAME`.
//
// Lab.Delete removes one host mid-test, the way a machine is switched off:
// its commands are killed, its interfaces deleted (the bridges lose the
// ports at once), its namespace deleted.
//
// # Waiting
//
// Every wait is bounded by ReadyTimeout and polls with a growing pause; a
// timeout fails the test naming what did not come up (which interface,
// address or bridge port, and its last state). Host.Run and Lab.Shell
// apply RunTimeout when their context has no deadline.
//
// # Logging
//
// Every command the Lab runs is logged with t.Logf as `$ ip ...`, ready to
// paste into a root shell; several ip commands for one namespace run as one
// `ip -n NS -batch -` process and are logged as a here-document. Sysctls are
// written straight to /proc/sys from inside the namespace; the log shows
// the equivalent `ip netns exec NS sysctl -qw` command.
//
// # Running code inside a host
//
// Host.Run and Host.Command run programs through `ip netns exec`, which
// also mounts a /sys that matches the namespace.
//
// Host.Do runs a Go function inside the host. It starts a goroutine,
// locks it to its OS thread, and moves that thread (only that thread) into
// the namespace with setns(2). Consequences:
//
//   - A socket belongs to the namespace it was created in, for its whole
//     life. A net.PacketConn opened inside fn may be read, written and
//     closed from any goroutine after Do returns, and still talks on the
//     host's interfaces.
//   - Only work done on that thread is inside the host. Goroutines started
//     by fn, and anything the runtime hands to another thread (DNS
//     resolution, for instance), run in the root namespace. Give IP
//     literals, and create sockets in fn itself.
//   - After fn, the thread goes back to its original namespace before it is
//     unlocked. If that fails, the goroutine ends still locked and the
//     runtime destroys the thread instead of reusing it, so no other
//     goroutine can ever run in the wrong namespace.
//   - fn must not call t.Fatal or t.FailNow: they would end Do's goroutine,
//     not the test's. Do then returns an error that says so. A panic in fn
//     is re-raised by Do on the caller's goroutine, with fn's stack.
//   - A socket that outlives the test keeps its namespace alive in the
//     kernel after the name is deleted; close sockets in t.Cleanup.
//
// # Concurrency
//
// Methods that build (Lab.LAN, Lab.Host, Host.Attach, Lab.Delete,
// NIC.SetDown, NIC.SetUp, StandardTopology, Topology.Host, Topology.NIC)
// fail the test with t.Fatal and so must be called from the goroutine of
// the test whose t made the Lab; not from its subtests, which should
// fetch what they need before t.Run or build a Lab of their own. Host.Do,
// Host.Run, Host.Command, Host.Sysctl and Lab.Shell return errors and may
// be called from any goroutine while the test runs. Labs are independent:
// parallel tests each build their own.
package netns
