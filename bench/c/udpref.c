/*
 * udpref: the reference UDP sender and receiver the bcast benchmarks compare
 * against. It is deliberately plain C over the raw syscalls (sendmmsg,
 * recvmmsg, UDP_SEGMENT, UDP_GRO) so that its numbers are what the kernel can
 * do on this machine, with no runtime in the way.
 *
 * Modes (every loop is bounded by a count and by wall-clock time):
 *   recv PORT [--addr A] [--batch N] [--gro] [--seconds S] [--size B]
 *             [--idle S] [--start-timeout S] [--rcvbuf BYTES]
 *             (--size is the buffer per datagram; --gro always uses 64 KiB)
 *   send HOST PORT --size B [--seconds S] [--batch N] [--gso SEGS]
 *             [--count N] [--rate PPS] [--seq]
 *             (--seq: bcast send --seq's 40-byte stamp in every datagram)
 *   echo PORT [--addr A] [--seconds S] [--idle S]
 *   ping HOST PORT --count N --size B [--warmup N] [--timeout-ms MS]
 *             [--seconds S] [--poll]
 *             (one request in flight; --poll waits with poll + recv instead
 *             of a blocking recv)
 *   count --size B [--input PATH] [--seconds S] [--idle S] [--start-timeout S]
 *             (counts a byte stream, stdin or PATH, as datagrams of B bytes;
 *             the socat row pipes socat's output here through a FIFO)
 *   cpu --out FILE -- COMMAND [ARG...]
 *             (runs COMMAND, writes its CPU time and peak RSS to FILE)
 *
 * Every mode but cpu prints exactly one JSON object on stdout when it ends. Errors go
 * to stderr, name the call, the address and the errno, and exit with 2.
 *
 * Only loopback addresses (127.0.0.0/8, ::1) are accepted: this program is a
 * flood generator and must never be pointed at a network.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <endian.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* UDP_MAX_SEGMENTS was 64 until Linux 6.10 raised it to 128; stay portable. */
#define MAX_GSO_SEGMENTS 64
/* Largest UDP payload: 65535 - 8 (UDP) - 20 (IPv4) or - 0 (IPv6 jumbo aside). */
#define MAX_PAYLOAD_V4 65507u
#define MAX_PAYLOAD_V6 65527u
/* A GRO-coalesced datagram can be up to 64 KiB; anything smaller truncates. */
#define GRO_BUFSIZE 65536u
/* How long one blocking receive waits before the loop re-checks its clocks. */
#define POLL_SLICE_MS 100

static void usage(void) __attribute__((noreturn));
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void usage(void)
{
	fputs("usage:\n"
	      "  udpref recv PORT [--addr A] [--batch N] [--gro] [--seconds S] [--size B]\n"
	      "                   [--idle S] [--start-timeout S] [--rcvbuf BYTES]\n"
	      "  udpref send HOST PORT --size B [--seconds S] [--batch N] [--gso SEGS]\n"
	      "                   [--count N] [--rate PPS] [--seq]\n"
	      "  udpref echo PORT [--addr A] [--seconds S] [--idle S]\n"
	      "  udpref ping HOST PORT --count N --size B [--warmup N] [--timeout-ms MS]\n"
	      "                   [--seconds S] [--poll]\n"
	      "  udpref count --size B [--input PATH] [--seconds S] [--idle S] [--start-timeout S]\n"
	      "  udpref cpu --out FILE -- COMMAND [ARG...]\n"
	      "HOST/--addr must be loopback: 127.0.0.0/8 or ::1.\n"
	      "--gso SEGS packs SEGS datagrams of --size bytes into one UDP_SEGMENT send.\n"
	      "--seq stamps each datagram as bcast send --seq does.\n",
	      stderr);
	exit(2);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("udpref: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* errname returns "ECONNREFUSED (Connection refused)" style text for e. */
static const char *errname(int e)
{
	static char buf[160];
	const char *name = strerrorname_np(e);
	snprintf(buf, sizeof buf, "%s (%s)", name != NULL ? name : "errno", strerror(e));
	return buf;
}

static double now_s(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		die("clock_gettime(CLOCK_MONOTONIC): %s", errname(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts;
	double whole = floor(t);
	ts.tv_sec = (time_t)whole;
	ts.tv_nsec = (long)((t - whole) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
		ts.tv_nsec = 999999999L;
	/* EINTR is retried a bounded number of times; an absolute deadline means a
	 * retry never sleeps longer than the first call would have. */
	for (int tries = 0; tries < 100; tries++) {
		int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		if (rc == 0)
			return;
		if (rc != EINTR)
			die("clock_nanosleep: %s", errname(rc));
	}
}

static uint64_t parse_uint(const char *s, const char *name, uint64_t lo, uint64_t hi)
{
	char *end = NULL;
	unsigned long long v;
	if (s[0] < '0' || s[0] > '9')
		die("%s: want a whole number in [%" PRIu64 ", %" PRIu64 "], got \"%s\"", name, lo, hi, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		die("%s: want a whole number in [%" PRIu64 ", %" PRIu64 "], got \"%s\"", name, lo, hi, s);
	return (uint64_t)v;
}

static double parse_seconds(const char *s, const char *name, double lo, double hi)
{
	char *end = NULL;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi)
		die("%s: want a number of seconds in [%g, %g], got \"%s\"", name, lo, hi, s);
	return v;
}

/* value returns the argument after option argv[*i], advancing *i. */
static const char *value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		die("%s needs a value", argv[*i]);
	*i += 1;
	return argv[*i];
}

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
	char text[INET6_ADDRSTRLEN + 16];
};

/* loopback fills a with host:port, refusing anything that is not loopback. */
static void loopback(const char *host, const char *port_s, struct addr *a)
{
	uint16_t port = (uint16_t)parse_uint(port_s, "PORT", 1, 65535);
	struct in_addr v4;
	struct in6_addr v6;

	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, host, &v4) == 1) {
		struct sockaddr_in sin;
		if ((ntohl(v4.s_addr) >> 24) != 127)
			die("%s is not a loopback address; udpref only uses 127.0.0.0/8 and ::1", host);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr = v4;
		memcpy(&a->ss, &sin, sizeof sin);
		a->len = sizeof sin;
		a->family = AF_INET;
		snprintf(a->text, sizeof a->text, "%s:%u", host, (unsigned)port);
	} else if (inet_pton(AF_INET6, host, &v6) == 1) {
		struct sockaddr_in6 sin6;
		if (!IN6_IS_ADDR_LOOPBACK(&v6))
			die("%s is not a loopback address; udpref only uses 127.0.0.0/8 and ::1", host);
		memset(&sin6, 0, sizeof sin6);
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		sin6.sin6_addr = v6;
		memcpy(&a->ss, &sin6, sizeof sin6);
		a->len = sizeof sin6;
		a->family = AF_INET6;
		snprintf(a->text, sizeof a->text, "[%s]:%u", host, (unsigned)port);
	} else {
		die("\"%s\" is not a numeric IPv4 or IPv6 address", host);
	}
}

static int udp_socket(const struct addr *a)
{
	int fd = socket(a->family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		die("socket for %s: %s", a->text, errname(errno));
	return fd;
}

/* set_rcvtimeo makes blocking receives return EAGAIN after POLL_SLICE_MS, so
 * every receive loop gets back to its clock checks at least that often. */
static void set_rcvtimeo(int fd, const struct addr *a)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = POLL_SLICE_MS * 1000};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
		die("setsockopt SO_RCVTIMEO on %s: %s", a->text, errname(errno));
}

static void bind_or_die(int fd, const struct addr *a)
{
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
		die("bind %s: %s", a->text, errname(errno));
}

static void flush_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		die("writing the JSON result to stdout: %s", errname(errno));
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* cpu is this process's CPU time so far: on a shared 2-core machine CPU per
 * datagram moves less with other load than datagrams per second, and the
 * split tells the system calls' share (sys) from the program's own (user). */
struct cpu {
	double user, sys;
};

static struct cpu cpu_self(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		die("getrusage: %s", errname(errno));
	return (struct cpu){tv_s(ru.ru_utime), tv_s(ru.ru_stime)};
}

static double rate(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0.0;
}

/* gro_size returns the gso_size the kernel reported for a coalesced datagram,
 * or 0 when the datagram was delivered as it was sent. */
static unsigned gro_size(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int v;
			memcpy(&v, CMSG_DATA(c), sizeof v);
			return v > 0 ? (unsigned)v : 0;
		}
	}
	return 0;
}

union ctrlbuf {
	char b[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

static int cmd_recv(int argc, char **argv)
{
	const char *port_s = NULL, *host = "127.0.0.1";
	uint64_t batch = 64, size = 2048, rcvbuf = 0;
	int gro = 0;
	double seconds = 3, idle = 0.5, start_timeout = 10;

	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--batch") == 0)
			batch = parse_uint(value(argc, argv, &i), o, 1, 1024);
		else if (strcmp(o, "--size") == 0)
			size = parse_uint(value(argc, argv, &i), o, 1, GRO_BUFSIZE);
		else if (strcmp(o, "--gro") == 0)
			gro = 1;
		else if (strcmp(o, "--seconds") == 0)
			seconds = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--idle") == 0)
			idle = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--start-timeout") == 0)
			start_timeout = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--addr") == 0)
			host = value(argc, argv, &i);
		else if (strcmp(o, "--rcvbuf") == 0)
			rcvbuf = parse_uint(value(argc, argv, &i), o, 1, INT32_MAX);
		else if (o[0] == '-')
			die("recv: unknown option %s", o);
		else if (port_s == NULL)
			port_s = o;
		else
			die("recv: unexpected argument %s", o);
	}
	if (port_s == NULL)
		usage();

	struct addr a;
	loopback(host, port_s, &a);
	int fd = udp_socket(&a);
	set_rcvtimeo(fd, &a);
	if (rcvbuf > 0) {
		int v = (int)rcvbuf;
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v) != 0)
			die("setsockopt SO_RCVBUF %d on %s: %s", v, a.text, errname(errno));
	}
	bind_or_die(fd, &a);
	if (gro) {
		int one = 1;
		if (setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) != 0)
			die("setsockopt UDP_GRO on %s: %s", a.text, errname(errno));
	}

	size_t bufsize = gro ? GRO_BUFSIZE : (size_t)size;
	char *bufs = malloc((size_t)batch * bufsize);
	struct iovec *iov = calloc((size_t)batch, sizeof *iov);
	struct mmsghdr *msgs = calloc((size_t)batch, sizeof *msgs);
	union ctrlbuf *ctrl = calloc((size_t)batch, sizeof *ctrl);
	if (bufs == NULL || iov == NULL || msgs == NULL || ctrl == NULL)
		die("recv: out of memory for %" PRIu64 " buffers of %zu bytes", batch, bufsize);
	for (size_t i = 0; i < batch; i++) {
		iov[i].iov_base = bufs + i * bufsize;
		iov[i].iov_len = bufsize;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_control = gro ? ctrl[i].b : NULL;
		msgs[i].msg_hdr.msg_controllen = gro ? sizeof ctrl[i].b : 0;
	}

	uint64_t received = 0, bytes = 0, calls = 0, truncated = 0, coalesced = 0, ctrunc = 0;
	double t0 = now_s(), t_first = 0, t_last = 0;
	int started = 0, last_n = 0;
	for (;;) {
		/* The kernel overwrote msg_controllen of the messages it filled. */
		for (int i = 0; i < last_n; i++)
			msgs[i].msg_hdr.msg_controllen = gro ? sizeof ctrl[i].b : 0;
		int n = recvmmsg(fd, msgs, (unsigned)batch, MSG_WAITFORONE, NULL);
		double t = now_s();
		if (n < 0) {
			int e = errno;
			last_n = 0;
			if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR)
				die("recvmmsg on %s: %s", a.text, errname(e));
			if (!started && t - t0 >= start_timeout)
				break;
			if (started && (t - t_last >= idle || t - t_first >= seconds))
				break;
			continue;
		}
		last_n = n;
		calls++;
		if (!started) {
			started = 1;
			t_first = t;
		}
		t_last = t;
		for (int i = 0; i < n; i++) {
			unsigned len = msgs[i].msg_len;
			struct msghdr *mh = &msgs[i].msg_hdr;
			if (mh->msg_flags & MSG_TRUNC)
				truncated++;
			/* A lost gso_size would count a coalesced datagram as one. */
			if (mh->msg_flags & MSG_CTRUNC)
				ctrunc++;
			bytes += len;
			unsigned seg = gro ? gro_size(mh) : 0;
			if (seg > 0 && len > seg) {
				received += (len + seg - 1) / seg;
				coalesced++;
			} else {
				received++;
			}
		}
		if (t - t_first >= seconds)
			break;
	}
	double secs = started ? t_last - t_first : 0;
	struct cpu c = cpu_self();
	printf("{\"received\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.1f,"
	       "\"calls\":%" PRIu64 ",\"truncated\":%" PRIu64 ",\"ctrunc\":%" PRIu64
	       ",\"coalesced\":%" PRIu64 ",\"batch\":%" PRIu64 ",\"gro\":%s,\"user_s\":%.6f,"
	       "\"sys_s\":%.6f,\"cpu_s\":%.6f}\n",
	       received, bytes, secs, rate(received, secs), calls, truncated, ctrunc, coalesced, batch,
	       gro ? "true" : "false", c.user, c.sys, c.user + c.sys);
	flush_stdout();
	if (close(fd) != 0)
		die("close %s: %s", a.text, errname(errno));
	free(bufs);
	free(iov);
	free(msgs);
	free(ctrl);
	return 0;
}

/* The stamp of bcast send --seq (internal/seq, version 1), 40 bytes, big
 * endian: "BCSQ", version, flags, header length, run id, sequence number
 * (1 for the first datagram), planned total (0: unknown), send time in Unix
 * nanoseconds. With it bcast listen --seq does all its per-datagram work on a
 * stream from this sender. */
#define STAMP_LEN 40

static uint64_t new_run_id(void)
{
	uint64_t id = 0;
	for (int tries = 0; id == 0 && tries < 100; tries++)
		if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
			die("getrandom: %s", errname(errno));
	if (id == 0)
		die("getrandom: a zero run id 100 times");
	return id;
}

static void put_stamp(char *b, uint64_t run, uint64_t seq, uint64_t total, uint64_t sent_ns)
{
	uint16_t hlen = htobe16(STAMP_LEN);
	uint64_t f[4] = {htobe64(run), htobe64(seq), htobe64(total), htobe64(sent_ns)};
	memcpy(b, "BCSQ", 4);
	b[4] = 1; /* version */
	b[5] = 0; /* flags */
	memcpy(b + 6, &hlen, sizeof hlen);
	memcpy(b + 8, f, sizeof f);
}

static uint64_t unix_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		die("clock_gettime(CLOCK_REALTIME): %s", errname(errno));
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmd_send(int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL};
	int npos = 0, stamp = 0;
	uint64_t size = 0, batch = 64, segs = 0, count = UINT64_MAX, pps = 0;
	double seconds = 3;

	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--size") == 0)
			size = parse_uint(value(argc, argv, &i), o, 1, MAX_PAYLOAD_V6);
		else if (strcmp(o, "--batch") == 0)
			batch = parse_uint(value(argc, argv, &i), o, 1, 1024);
		else if (strcmp(o, "--gso") == 0)
			segs = parse_uint(value(argc, argv, &i), o, 1, MAX_GSO_SEGMENTS);
		else if (strcmp(o, "--count") == 0)
			count = parse_uint(value(argc, argv, &i), o, 1, UINT64_MAX);
		else if (strcmp(o, "--rate") == 0)
			pps = parse_uint(value(argc, argv, &i), o, 1, 1000000000);
		else if (strcmp(o, "--seconds") == 0)
			seconds = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--seq") == 0)
			stamp = 1;
		else if (o[0] == '-')
			die("send: unknown option %s", o);
		else if (npos < 2)
			pos[npos++] = o;
		else
			die("send: unexpected argument %s", o);
	}
	if (npos != 2 || size == 0)
		usage();
	if (stamp && segs > 0)
		die("send: --seq stamps each datagram; it does not go with --gso");
	if (stamp && size < STAMP_LEN)
		die("send: --seq needs --size %d or more (the stamp), got %" PRIu64, STAMP_LEN, size);

	struct addr a;
	loopback(pos[0], pos[1], &a);
	uint64_t max_payload = a.family == AF_INET ? MAX_PAYLOAD_V4 : MAX_PAYLOAD_V6;
	uint64_t per_msg = segs > 0 ? segs : 1;
	if (size * per_msg > max_payload)
		die("send: --size %" PRIu64 " x --gso %" PRIu64 " = %" PRIu64
		    " bytes exceeds the %" PRIu64 "-byte UDP payload limit",
		    size, per_msg, size * per_msg, max_payload);

	int fd = udp_socket(&a);
	/* connect() once so sendmmsg needs no per-message address and the kernel
	 * skips the route lookup on every datagram. */
	if (connect(fd, (const struct sockaddr *)&a.ss, a.len) != 0)
		die("connect %s: %s", a.text, errname(errno));
	if (segs > 0) {
		int gso = (int)size;
		if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &gso, sizeof gso) != 0)
			die("setsockopt UDP_SEGMENT %d on %s: %s", gso, a.text, errname(errno));
	}

	/* Without stamps every message sends the same payload; with them each
	 * message of a batch needs a buffer of its own. */
	size_t full = (size_t)(size * per_msg), nbuf = stamp ? (size_t)batch : 1;
	char *buf = malloc(full * nbuf);
	struct iovec *iov = calloc((size_t)batch, sizeof *iov);
	struct mmsghdr *msgs = calloc((size_t)batch, sizeof *msgs);
	if (buf == NULL || iov == NULL || msgs == NULL)
		die("send: out of memory for a %zu-byte payload", full);
	for (size_t i = 0; i < full * nbuf; i++)
		buf[i] = (char)('a' + i % full % 26);
	for (size_t i = 0; i < batch; i++) {
		iov[i].iov_base = buf + (stamp ? i * full : 0);
		iov[i].iov_len = full;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	uint64_t run = stamp ? new_run_id() : 0, total = count == UINT64_MAX ? 0 : count;

	uint64_t sent = 0, bytes = 0, calls = 0, refused = 0, nobufs = 0;
	double t0 = now_s(), deadline = t0 + seconds, t = t0;
	while (sent < count) {
		t = now_s();
		if (t >= deadline)
			break;
		if (pps > 0) {
			double due = t0 + (double)sent / (double)pps;
			if (due >= deadline)
				break;
			if (due > t)
				sleep_until(due);
		}
		uint64_t left = count - sent;
		unsigned n = (unsigned)batch;
		if (left < batch * per_msg) {
			/* Last call: only as many messages as --count still allows,
			 * the final one possibly carrying fewer segments. */
			uint64_t msgs_needed = (left + per_msg - 1) / per_msg;
			n = (unsigned)msgs_needed;
			for (unsigned i = 0; i < n; i++)
				iov[i].iov_len = full;
			uint64_t rem = left % per_msg;
			if (rem != 0)
				iov[n - 1].iov_len = (size_t)(rem * size);
		}
		if (stamp) {
			/* A message refused below is stamped again with the same
			 * number next time: sequence numbers stay dense. */
			uint64_t ns = unix_ns();
			for (unsigned i = 0; i < n; i++)
				put_stamp(iov[i].iov_base, run, sent + i + 1, total, ns);
		}
		int r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			if (e == ECONNREFUSED) {
				/* An ICMP port unreachable from an earlier datagram:
				 * the receiver is not (yet, or any more) bound. */
				refused++;
				continue;
			}
			if (e == ENOBUFS || e == EAGAIN) {
				nobufs++;
				continue;
			}
			if (e == EIO && segs > 0)
				die("sendmmsg with UDP_SEGMENT to %s: %s (no GSO on this route?)", a.text,
				    errname(e));
			die("sendmmsg to %s: %s", a.text, errname(e));
		}
		calls++;
		for (int i = 0; i < r; i++) {
			unsigned len = msgs[i].msg_len;
			bytes += len;
			sent += segs > 0 ? (len + size - 1) / size : 1;
		}
	}
	double secs = now_s() - t0;
	struct cpu c = cpu_self();
	printf("{\"sent\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.1f,"
	       "\"calls\":%" PRIu64 ",\"refused\":%" PRIu64 ",\"nobufs\":%" PRIu64
	       ",\"batch\":%" PRIu64 ",\"gso\":%" PRIu64 ",\"size\":%" PRIu64 ",\"seq\":%s,"
	       "\"user_s\":%.6f,\"sys_s\":%.6f,\"cpu_s\":%.6f}\n",
	       sent, bytes, secs, rate(sent, secs), calls, refused, nobufs, batch, segs, size,
	       stamp ? "true" : "false", c.user, c.sys, c.user + c.sys);
	flush_stdout();
	if (close(fd) != 0)
		die("close %s: %s", a.text, errname(errno));
	free(buf);
	free(iov);
	free(msgs);
	return 0;
}

static int cmd_echo(int argc, char **argv)
{
	const char *port_s = NULL, *host = "127.0.0.1";
	double seconds = 60, idle = 10;

	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--addr") == 0)
			host = value(argc, argv, &i);
		else if (strcmp(o, "--seconds") == 0)
			seconds = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--idle") == 0)
			idle = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (o[0] == '-')
			die("echo: unknown option %s", o);
		else if (port_s == NULL)
			port_s = o;
		else
			die("echo: unexpected argument %s", o);
	}
	if (port_s == NULL)
		usage();

	struct addr a;
	loopback(host, port_s, &a);
	int fd = udp_socket(&a);
	set_rcvtimeo(fd, &a);
	bind_or_die(fd, &a);

	static char buf[GRO_BUFSIZE];
	uint64_t echoed = 0, failed = 0;
	double t0 = now_s(), t_last = t0;
	int started = 0;
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen);
		double t = now_s();
		if (t - t0 >= seconds)
			break;
		if (n < 0) {
			int e = errno;
			if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNREFUSED)
				die("recvfrom on %s: %s", a.text, errname(e));
			if (started && t - t_last >= idle)
				break;
			continue;
		}
		started = 1;
		t_last = t;
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&peer, plen) != n) {
			int e = errno;
			/* The pinger may already be gone; that is its business. */
			if (e != ECONNREFUSED && e != ENOBUFS && e != EAGAIN)
				die("sendto from %s: %s", a.text, errname(e));
			failed++;
			continue;
		}
		echoed++;
	}
	printf("{\"echoed\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"seconds\":%.6f}\n", echoed, failed,
	       now_s() - t0);
	flush_stdout();
	if (close(fd) != 0)
		die("close %s: %s", a.text, errname(errno));
	return 0;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* set_timeout_ms sets SO_RCVTIMEO to ms milliseconds (at least 1). */
static void set_timeout_ms(int fd, const struct addr *a, double ms)
{
	if (ms < 1)
		ms = 1;
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
			     .tv_usec = (suseconds_t)fmod(ms * 1000, 1e6)};
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
		die("setsockopt SO_RCVTIMEO on %s: %s", a->text, errname(errno));
}

/* wait_reply waits until fd is readable or ms pass: 1 readable, 0 not. */
static int wait_reply(int fd, const struct addr *a, double ms)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, (int)ms + 1);
		if (pr >= 0)
			return pr > 0;
		if (errno != EINTR)
			die("poll on %s: %s", a->text, errname(errno));
	}
}

/* nearest_rank is the q-quantile of sorted v[0..n-1] by the nearest-rank
 * rule, v[ceil(q n) - 1]: a value that was measured, never interpolated. */
static double nearest_rank(const double *v, uint64_t n, double q)
{
	uint64_t r = (uint64_t)ceil(q * (double)n - 1e-9);
	if (r < 1)
		r = 1;
	if (r > n)
		r = n;
	return v[r - 1];
}

/*
 * ping keeps one request in flight: the next probe leaves when the reply to
 * the last one is in (or it timed out), as sockperf ping-pong and netperf's
 * UDP_RR do. The reply is waited for in a blocking recv bounded by
 * SO_RCVTIMEO, the cheapest wait there is: one system call per reply instead
 * of poll + recv. --poll keeps the poll + non-blocking recv wait, to compare.
 */
static int cmd_ping(int argc, char **argv)
{
	const char *pos[2] = {NULL, NULL};
	int npos = 0, use_poll = 0;
	uint64_t count = 0, size = 0, warmup = 100, timeout_ms = 1000;
	double seconds = 30;

	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--count") == 0)
			count = parse_uint(value(argc, argv, &i), o, 1, 10000000);
		else if (strcmp(o, "--size") == 0)
			size = parse_uint(value(argc, argv, &i), o, 8, MAX_PAYLOAD_V4);
		else if (strcmp(o, "--warmup") == 0)
			warmup = parse_uint(value(argc, argv, &i), o, 0, 1000000);
		else if (strcmp(o, "--timeout-ms") == 0)
			timeout_ms = parse_uint(value(argc, argv, &i), o, 1, 60000);
		else if (strcmp(o, "--seconds") == 0)
			seconds = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--poll") == 0)
			use_poll = 1;
		else if (o[0] == '-')
			die("ping: unknown option %s", o);
		else if (npos < 2)
			pos[npos++] = o;
		else
			die("ping: unexpected argument %s", o);
	}
	if (npos != 2 || count == 0 || size == 0)
		usage();

	struct addr a;
	loopback(pos[0], pos[1], &a);
	int fd = udp_socket(&a);
	if (connect(fd, (const struct sockaddr *)&a.ss, a.len) != 0)
		die("connect %s: %s", a.text, errname(errno));
	if (!use_poll)
		set_timeout_ms(fd, &a, (double)timeout_ms);

	char *out = malloc((size_t)size), *in = malloc((size_t)size);
	double *rtt = calloc((size_t)count, sizeof *rtt);
	if (out == NULL || in == NULL || rtt == NULL)
		die("ping: out of memory for %" PRIu64 " samples", count);
	memset(out, 'p', (size_t)size);

	uint64_t got = 0, lost = 0, probes = 0, stale = 0;
	double t0 = now_s(), deadline = t0 + seconds, tmo = (double)timeout_ms / 1000.0;
	double t_timed = 0, t_end = 0;
	/* The receive timeout is shortened only while a stale reply is being
	 * skipped; it goes back to timeout_ms for the next probe. */
	int tmo_short = 0;
	for (uint64_t seq = 0; seq < warmup + count; seq++) {
		double t1 = now_s();
		if (t1 >= deadline)
			break;
		int counted = seq >= warmup;
		if (counted) {
			probes++;
			if (probes == 1)
				t_timed = t1;
		}
		if (tmo_short) {
			set_timeout_ms(fd, &a, (double)timeout_ms);
			tmo_short = 0;
		}
		memcpy(out, &seq, sizeof seq);
		t1 = now_s();
		ssize_t w = send(fd, out, (size_t)size, 0);
		if (w < 0) {
			int e = errno;
			if (e != ECONNREFUSED && e != ENOBUFS && e != EAGAIN && e != EINTR)
				die("send to %s: %s", a.text, errname(e));
			lost += counted;
			continue;
		}
		if ((uint64_t)w != size)
			die("send to %s: wrote %zd of %" PRIu64 " bytes", a.text, w, size);
		/* Wait for this probe's reply; late replies to earlier probes are
		 * skipped. Each pass either returns or shrinks the remaining time. */
		for (;;) {
			double left = t1 + tmo - now_s();
			if (left <= 0) {
				lost += counted;
				break;
			}
			ssize_t r;
			if (use_poll) {
				if (!wait_reply(fd, &a, left * 1000))
					continue;
				r = recv(fd, in, (size_t)size, MSG_DONTWAIT);
			} else {
				r = recv(fd, in, (size_t)size, 0);
			}
			double t2 = now_s();
			if (r < 0) {
				int e = errno;
				if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
					continue;
				if (e == ECONNREFUSED) {
					lost += counted;
					break;
				}
				die("recv from %s: %s", a.text, errname(e));
			}
			uint64_t echo_seq;
			if ((size_t)r < sizeof echo_seq)
				continue;
			memcpy(&echo_seq, in, sizeof echo_seq);
			if (echo_seq != seq) {
				stale++;
				if (!use_poll) {
					set_timeout_ms(fd, &a, (t1 + tmo - t2) * 1000);
					tmo_short = 1;
				}
				continue;
			}
			if (counted) {
				rtt[got++] = (t2 - t1) * 1e6;
				t_end = t2;
			}
			break;
		}
	}
	if (close(fd) != 0)
		die("close %s: %s", a.text, errname(errno));

	const char *wait = use_poll ? "poll" : "blocking";
	if (got == 0) {
		printf("{\"count\":%" PRIu64 ",\"received\":0,\"lost\":%" PRIu64 ",\"stale\":%" PRIu64
		       ",\"size\":%" PRIu64 ",\"wait\":\"%s\",\"min_us\":null,\"avg_us\":null,"
		       "\"median_us\":null,\"p50_us\":null,\"p90_us\":null,\"p99_us\":null,"
		       "\"p999_us\":null,\"max_us\":null,\"transactions_per_s\":0}\n",
		       probes, lost, stale, size, wait);
		flush_stdout();
		free(out);
		free(in);
		free(rtt);
		return 1;
	}
	qsort(rtt, (size_t)got, sizeof *rtt, cmp_double);
	double sum = 0;
	for (uint64_t i = 0; i < got; i++)
		sum += rtt[i];
	double median = got % 2 ? rtt[got / 2] : (rtt[got / 2 - 1] + rtt[got / 2]) / 2;
	/* Transactions a second over the timed probes, lost ones' waits
	 * included: what one request in flight achieves. */
	double span = t_end - t_timed;
	printf("{\"count\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"stale\":%" PRIu64
	       ",\"size\":%" PRIu64 ",\"wait\":\"%s\",\"min_us\":%.2f,\"avg_us\":%.2f,\"median_us\":%.2f,"
	       "\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.2f,"
	       "\"transactions_per_s\":%.1f}\n",
	       probes, got, lost, stale, size, wait, rtt[0], sum / (double)got, median,
	       nearest_rank(rtt, got, 0.50), nearest_rank(rtt, got, 0.90), nearest_rank(rtt, got, 0.99),
	       nearest_rank(rtt, got, 0.999), rtt[got - 1], span > 0 ? (double)got / span : 0.0);
	flush_stdout();
	free(out);
	free(in);
	free(rtt);
	return 0;
}

static int cmd_count(int argc, char **argv)
{
	uint64_t size = 0;
	double seconds = 60, idle = 2, start_timeout = 10;
	const char *input = NULL;

	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--size") == 0)
			size = parse_uint(value(argc, argv, &i), o, 1, GRO_BUFSIZE);
		else if (strcmp(o, "--seconds") == 0)
			seconds = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--idle") == 0)
			idle = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--start-timeout") == 0)
			start_timeout = parse_seconds(value(argc, argv, &i), o, 0.01, 3600);
		else if (strcmp(o, "--input") == 0)
			input = value(argc, argv, &i);
		else
			die("count: unexpected argument %s", o);
	}
	if (size == 0)
		usage();

	int in = STDIN_FILENO;
	const char *name = input != NULL ? input : "stdin";
	/* Opening a FIFO waits for its writer; that wait is what --start-timeout
	 * bounds for the data, and the caller's timeout bounds for the open. */
	if (input != NULL && (in = open(input, O_RDONLY | O_CLOEXEC)) < 0)
		die("open %s: %s", input, errname(errno));
	/* A 64 KiB pipe fills in ~1000 small datagrams; a bigger one keeps the
	 * writer (socat) from stalling whenever this reader is not scheduled. */
	if (fcntl(in, F_SETPIPE_SZ, 1 << 20) < 0)
		fprintf(stderr, "udpref: count: F_SETPIPE_SZ 1 MiB on %s: %s; keeping its size\n", name,
			errname(errno));

	static char buf[1 << 20];
	uint64_t bytes = 0, reads = 0;
	double t0 = now_s(), t_first = 0, t_last = 0;
	int started = 0;
	for (;;) {
		double t = now_s();
		if (!started && t - t0 >= start_timeout)
			break;
		if (started && (t - t_last >= idle || t - t_first >= seconds))
			break;
		struct pollfd p = {.fd = in, .events = POLLIN};
		int pr = poll(&p, 1, POLL_SLICE_MS);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			die("poll on %s: %s", name, errname(errno));
		}
		if (pr == 0)
			continue;
		ssize_t n = read(in, buf, sizeof buf);
		t = now_s();
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("read %s: %s", name, errname(errno));
		}
		if (n == 0)
			break;
		if (!started) {
			started = 1;
			t_first = t;
		}
		t_last = t;
		bytes += (uint64_t)n;
		reads++;
	}
	double secs = started ? t_last - t_first : 0;
	uint64_t received = bytes / size;
	printf("{\"received\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.6f,\"pps\":%.1f,"
	       "\"reads\":%" PRIu64 ",\"remainder\":%" PRIu64 "}\n",
	       received, bytes, secs, rate(received, secs), reads, bytes % size);
	flush_stdout();
	if (input != NULL && close(in) != 0)
		die("close %s: %s", input, errname(errno));
	return 0;
}

static volatile sig_atomic_t child_pid;

/* forward passes SIGINT and SIGTERM on to the measured command, so that it
 * ends as it would have alone and its CPU time is still reported. */
static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

/* cpu runs a command and writes its CPU time (user, system, from wait4's
 * rusage, to the microsecond) and peak RSS to --out as one JSON object, for
 * programs that do not report their own. It exits with the command's
 * status (128 + signal when a signal ended it). */
static int cmd_cpu(int argc, char **argv)
{
	const char *outpath = NULL;
	int i = 0;
	for (; i < argc; i++) {
		const char *o = argv[i];
		if (strcmp(o, "--out") == 0)
			outpath = value(argc, argv, &i);
		else if (strcmp(o, "--") == 0) {
			i++;
			break;
		} else
			die("cpu: unexpected argument %s (the command follows --)", o);
	}
	if (outpath == NULL || i >= argc)
		usage();
	FILE *out = fopen(outpath, "we");
	if (out == NULL)
		die("open %s: %s", outpath, errname(errno));

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
		die("sigaction: %s", errname(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", errname(errno));
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		execvp(argv[i], argv + i);
		fprintf(stderr, "udpref: cpu: exec %s: %s\n", argv[i], errname(errno));
		_exit(127);
	}
	child_pid = pid;
	int status = 0;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR)
			die("wait4 %s: %s", argv[i], errname(errno));
	}
	child_pid = 0;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	double user = tv_s(ru.ru_utime), sys = tv_s(ru.ru_stime);
	fprintf(out,
		"{\"status\":%d,\"user_s\":%.6f,\"sys_s\":%.6f,\"cpu_s\":%.6f,\"maxrss_kib\":%ld,"
		"\"nvcsw\":%ld,\"nivcsw\":%ld}\n",
		code, user, sys, user + sys, ru.ru_maxrss, ru.ru_nvcsw, ru.ru_nivcsw);
	if (fclose(out) != 0)
		die("writing %s: %s", outpath, errname(errno));
	return code;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *mode = argv[1];
	if (strcmp(mode, "recv") == 0)
		return cmd_recv(argc - 2, argv + 2);
	if (strcmp(mode, "send") == 0)
		return cmd_send(argc - 2, argv + 2);
	if (strcmp(mode, "echo") == 0)
		return cmd_echo(argc - 2, argv + 2);
	if (strcmp(mode, "ping") == 0)
		return cmd_ping(argc - 2, argv + 2);
	if (strcmp(mode, "count") == 0)
		return cmd_count(argc - 2, argv + 2);
	if (strcmp(mode, "cpu") == 0)
		return cmd_cpu(argc - 2, argv + 2);
	usage();
}
