package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bcastdev/bcast/broadcast"
	"github.com/bcastdev/bcast/broadcast/discovery"
	"github.com/bcastdev/bcast/dgram"
	"github.com/bcastdev/bcast/internal/cmdline"
	"github.com/bcastdev/bcast/internal/daemon"
	"github.com/urfave/cli/v2"
)

const (
	defaultIdle     = 5 * time.Minute
	defaultShutdown = 10 * time.Second
)

// listenSpec is one listener asked for on the command line.
type listenSpec struct {
	flag, network string
	addr          dgram.Addr
}

// options is the command line, checked.
type options struct {
	specs     []listenSpec
	device    string
	mode      daemon.Mode
	tun       daemon.Tunables
	pidfile   string
	identity  *daemon.Identity
	sockMode  uint32
	config    *daemon.ConfigFile // nil without --config; opened before the privilege drop
	logPath   string
	logFormat string
	announce  *discovery.AnnouncerConfig // --mode announce
	reply     daemon.ReplyPolicy
	nofile    uint64 // the open-file limit, raised; 0 until known
	fileRoom  int    // clients it leaves room for; 0 until known
}

// parseOptions checks every flag before anything is opened; its errors are
// usage errors and name the flag.
func parseOptions(c *cli.Context) (*options, error) {
	if c.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: listeners are given with --tcp, --udp, --unix and --unixgram", c.Args().First())
	}
	o := &options{device: c.String("iface"), pidfile: c.String("pidfile"), logPath: c.String("log"), logFormat: c.String("log-format")}
	if c.IsSet("device") {
		if c.IsSet("iface") {
			return nil, fmt.Errorf("--device is the old name of --iface: give one")
		}
		o.device = c.String("device")
	}
	if c.IsSet("iface") || c.IsSet("device") {
		if err := cmdline.CheckInterface("--iface", o.device); err != nil {
			return nil, err
		}
	}
	for _, network := range []string{"tcp", "udp", "unix", "unixgram"} {
		for _, text := range c.StringSlice(network) {
			a, err := daemon.ParseListenAddr(network, text)
			if err != nil {
				return nil, fmt.Errorf("--%s %s: %w", network, cmdline.Quote(text), err)
			}
			o.specs = append(o.specs, listenSpec{flag: network, network: network, addr: a})
		}
	}
	var err error
	mode := c.String("mode")
	if mode == "announce" {
		// Announce serves echo on the listeners it announces, if any.
		mode = "echo"
	}
	if o.mode, err = daemon.ParseMode(mode); err != nil {
		return nil, fmt.Errorf("--mode %q: want echo, discard or announce", c.String("mode"))
	}
	if o.announce, err = parseAnnounce(c, c.String("mode") == "announce"); err != nil {
		return nil, err
	}
	if o.reply, err = parseReplyPolicy(c); err != nil {
		return nil, err
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, fmt.Errorf("--log-format %q: want text or json", o.logFormat)
	}
	perm, err := strconv.ParseUint(strings.TrimPrefix(c.String("socket-mode"), "0o"), 8, 32)
	if err != nil || perm > 0o777 {
		return nil, fmt.Errorf("--socket-mode %q: want octal permission bits such as 0666 or 0660", c.String("socket-mode"))
	}
	o.sockMode = uint32(perm)
	// The account to run as is known before anything is opened: the log
	// file and the socket files are given to it.
	if c.String("user") != "" || c.String("run-group") != "" {
		id, err := daemon.ResolveIdentity(c.String("user"), c.String("run-group"))
		if err != nil {
			return nil, err
		}
		o.identity = &id
	}
	if path := c.String("config"); path != "" {
		if o.config, err = daemon.OpenConfigFile(path); err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
	}
	if o.tun, _, err = loadTunables(c, o.config, 0); err != nil {
		if o.config != nil {
			o.config.Close()
		}
		return nil, err
	}
	return o, nil
}

// owner is the uid and gid to give the files the daemon creates, -1 each
// without --user and --run-group.
func (o *options) owner() (uid, gid int) {
	if o.identity == nil {
		return -1, -1
	}
	return o.identity.UID, o.identity.GID
}

// loadTunables reads the reloadable settings: the flags, and for each
// setting not given on the command line, the --config file. It runs at
// start and again on SIGHUP. When neither gives max-clients, it is
// daemon.DefaultMaxClients for fileRoom (0: not known yet) and the
// client-memory in force, and the returned ClientLimit says why.
func loadTunables(c *cli.Context, config *daemon.ConfigFile, fileRoom int) (daemon.Tunables, *daemon.ClientLimit, error) {
	t := daemon.Tunables{Settings: daemon.Settings{
		MaxClients:      c.Int("max-clients"),
		IdleTimeout:     c.Duration("idle-timeout"),
		MaxLine:         c.Int("max-line"),
		ShutdownTimeout: c.Duration("shutdown-timeout"),
	}}
	if err := t.Set("client-memory", c.String("client-memory")); err != nil {
		return t, nil, fmt.Errorf("--%w", err)
	}
	givenMax := c.IsSet("max-clients")
	if !givenMax {
		t.MaxClients = daemon.DefaultMaxClients(fileRoom, t.ClientMemory).Max
	}
	var err error
	if t.LogLevel, err = daemon.ParseLogLevel(c.String("log-level")); err != nil {
		return t, nil, fmt.Errorf("--log-level: %w", err)
	}
	if err := t.Validate(); err != nil {
		return t, nil, err
	}
	if config != nil {
		path := config.Path()
		data, err := config.Read()
		if err != nil {
			return t, nil, fmt.Errorf("--config: %w", err)
		}
		entries, err := daemon.ParseConfig(data)
		if err != nil {
			return t, nil, fmt.Errorf("--config %s: %w", path, err)
		}
		for _, e := range entries {
			if c.IsSet(e.Key) {
				continue // the command line wins
			}
			if err := t.Set(e.Key, e.Value); err != nil {
				return t, nil, fmt.Errorf("--config %s line %d: %w", path, e.Line, err)
			}
			givenMax = givenMax || e.Key == "max-clients"
		}
		if err := t.CheckTogether(); err != nil {
			return t, nil, fmt.Errorf("--config %s: %w", path, err)
		}
	}
	if givenMax {
		return t, nil, nil
	}
	limit := daemon.DefaultMaxClients(fileRoom, t.ClientMemory)
	t.MaxClients = limit.Max
	return t, &limit, nil
}

// fitToFiles works out, once the listeners are open, how many clients the
// open-file limit nofile leaves room for, logs the max-clients that
// follows or warns when the one given is over it, and sets o.tun.
func (o *options) fitToFiles(c *cli.Context, nofile uint64, log *slog.Logger) error {
	inUse, err := daemon.OpenFiles()
	if err != nil {
		log.Warn("counting open descriptors; assuming 16", "err", err)
		inUse = 16
	}
	o.nofile, o.fileRoom = nofile, daemon.FileRoom(nofile, inUse)
	t, limit, err := loadTunables(c, o.config, o.fileRoom)
	if err != nil {
		return err
	}
	o.tun = t
	if limit != nil {
		log.Info("max-clients not given: "+maxClientsWhy(*limit), "max_clients", limit.Max, "limited_by", limit.By,
			"nofile", nofile, "open_fds", inUse, "fd_headroom", daemon.FileHeadroom, "file_room", limit.FileRoom,
			"client_memory", t.ClientMemory, "client_cost", daemon.ClientCost, "memory_room", limit.MemoryRoom)
	}
	warnFileRoom(log, t, limit, o.fileRoom, nofile)
	return nil
}

// maxClientsWhy says in words what set a default max-clients.
func maxClientsWhy(l daemon.ClientLimit) string {
	switch l.By {
	case "open-file limit":
		return "one descriptor per client, from the open-file limit less those open and a headroom"
	case "client-memory":
		return fmt.Sprintf("client-memory / %d bytes per client, less than the open-file limit allows", daemon.ClientCost)
	}
	return fmt.Sprintf("the highest it can be (%d)", daemon.MaxMaxClients)
}

// warnFileRoom warns when a max-clients that was given is more than the
// descriptors allow: the clients over it wait in the listen backlog.
func warnFileRoom(log *slog.Logger, t daemon.Tunables, limit *daemon.ClientLimit, fileRoom int, nofile uint64) {
	if limit == nil && fileRoom > 0 && t.MaxClients > fileRoom {
		log.Warn("--max-clients exceeds what the open-file limit allows; clients over it will wait in the backlog",
			"max_clients", t.MaxClients, "nofile", nofile, "file_room", fileRoom)
	}
}

// serve is the daemon: check the flags, take the pid file, bind, drop
// privileges, serve until SIGTERM or SIGINT.
func serve(c *cli.Context, stderr io.Writer) error {
	o, err := parseOptions(c)
	if err != nil {
		return usageError("%v", err)
	}
	if o.config != nil {
		defer o.config.Close()
	}
	uid, gid := o.owner()
	// Catch SIGHUP from the start: its default action ends the process,
	// and a reload that arrives during start-up must not.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	activated, err := daemon.Activated()
	if err != nil {
		return failure("%v", err)
	}
	var listeners []*daemon.Listener
	listeners = append(listeners, activated...)
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	if len(listeners) == 0 && len(o.specs) == 0 && o.announce == nil {
		return usageError("no listeners: give --tcp, --udp, --unix or --unixgram, or start under systemd socket activation")
	}

	level := new(slog.LevelVar)
	level.Set(o.tun.LogLevel)
	var logOut io.Writer = stderr
	var logFile *daemon.LogFile
	if o.logPath != "" {
		if logFile, err = daemon.OpenLogFile(o.logPath, uid, gid); err != nil {
			closeAll()
			return failure("--log: %v", err)
		}
		defer logFile.Close()
		logOut = logFile
	}
	var handler slog.Handler = slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})
	if o.logFormat == "json" {
		handler = slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(handler)
	for old, now := range oldNames {
		if c.IsSet(old) {
			log.Warn("--" + old + " is the old name of --" + now + "; it goes in the next release")
		}
	}

	if o.pidfile != "" {
		pf, err := daemon.AcquirePIDFile(o.pidfile)
		if err != nil {
			closeAll()
			return failure("%v", err)
		}
		defer func() {
			if err := pf.Remove(); err != nil {
				log.Warn("removing pid file", "err", err)
			}
		}()
		if pf.Stale() != 0 {
			log.Info("took over a stale pid file: nobody held its lock", "pidfile", pf.Path(), "old_pid", pf.Stale())
		}
	}

	limit, err := daemon.RaiseFileLimit()
	if err != nil {
		log.Warn("raising the open-file limit", "err", err)
	}
	log.Info("starting", "pid", os.Getpid(), "mode", c.String("mode"), "nofile", limit)

	var bound []*daemon.Listener // bound to --iface by this process
	for _, sp := range o.specs {
		l, err := daemon.ListenWith(sp.network, sp.addr, daemon.ListenOptions{Device: o.device, SocketMode: o.sockMode, SocketUID: uid, SocketGID: gid})
		if err != nil {
			closeAll()
			return failure("--%s %s: %v", sp.flag, sp.addr, err)
		}
		listeners = append(listeners, l)
		if o.device != "" && !sp.addr.Unix {
			bound = append(bound, l)
		}
	}
	// Counted now that the listeners are open, and before the privilege
	// drop, after which /proc/self/fd may no longer be readable.
	if err := o.fitToFiles(c, limit, log); err != nil {
		closeAll()
		return usageError("%v", err)
	}

	if o.identity != nil {
		if err := daemon.DropPrivileges(*o.identity); err != nil {
			closeAll()
			return failure("--user %s --run-group %s: %v", o.identity.User, o.identity.Group, err)
		}
		log.Info("dropped privileges", "user", o.identity.User, "uid", o.identity.UID, "group", o.identity.Group, "gid", o.identity.GID)
	}

	srv, err := daemon.New(daemon.Config{Mode: o.mode, Settings: o.tun.Settings, Reply: o.reply, Logger: log})
	if err != nil {
		closeAll()
		return failure("%v", err)
	}
	for i, l := range listeners {
		if err := srv.Add(l); err != nil {
			for _, rest := range listeners[i:] {
				rest.Close()
			}
			srv.Close()
			return failure("%v", err)
		}
	}

	if o.announce != nil {
		o.announce.Port = servicePort(listeners)
		goodbye, err := startAnnouncer(c.Context, *o.announce, log)
		if err != nil {
			srv.Close()
			return failure("--mode announce --service %s: %v", o.announce.Service, err)
		}
		defer goodbye()
	}

	var follow []string
	if o.device != "" {
		follow = append(follow, o.device)
	}
	if o.announce != nil {
		follow = append(follow, o.announce.Link.Interfaces...)
	}
	if len(follow) > 0 {
		boundTo := 0 // the index of --iface the listeners are bound to
		if ifi, err := broadcast.InterfaceByName(o.device); err == nil && o.device != "" {
			boundTo = ifi.Index
		}
		f, err := broadcast.FollowInterfaces(follow, func(ch broadcast.IfChange) { ifChanged(ch, o.device, &boundTo, bound, log) })
		if err != nil {
			log.Error("cannot follow interfaces: one that goes away and comes back will not be served again until a restart", "err", err)
		} else {
			defer f.Close()
		}
	}

	done := make(chan struct{})
	defer close(done)
	go handleSignals(c, sigs, srv, o, logFile, level, log, done)

	if err := srv.Serve(c.Context); err != nil {
		return failure("%v", err)
	}
	return nil
}

// ifChanged logs a change of --iface or a --discovery-iface interface, and
// binds the listeners to --iface again when it was made again under its
// name: SO_BINDTODEVICE holds an interface index, which a new interface of
// the same name does not have. The discovery engine lists interfaces for
// every message it sends and follows by itself.
func ifChanged(ch broadcast.IfChange, device string, boundTo *int, bound []*daemon.Listener, log *slog.Logger) {
	switch {
	case ch.To == broadcast.IfGone:
		log.Warn("interface gone; serving on, and on it again when it is back", "iface", ch.Name, "index", ch.OldIndex)
	case ch.To != broadcast.IfUp && ch.From != ch.To:
		log.Warn("interface not usable; waiting for it to come up", "iface", ch.Name, "state", ch.To.String())
	case ch.To == broadcast.IfUp && (ch.From != broadcast.IfUp || ch.Recreated()):
		log.Info("interface up: serving on it again", "iface", ch.Name, "index", ch.Index, "recreated", ch.Recreated())
	}
	if ch.Name != device || ch.Index == 0 || ch.Index == *boundTo {
		return
	}
	*boundTo = ch.Index
	for _, l := range bound {
		if err := l.Socket().BindToDevice(device); err != nil {
			// Binding a socket bound to a device anew needs CAP_NET_RAW,
			// which --user gave up.
			log.Error("cannot bind the listener to the new interface; it receives nothing until a restart",
				"iface", device, "network", l.Network(), "addr", l.Addr().String(), "err", err)
			continue
		}
		log.Info("listener bound to the new interface", "iface", device, "network", l.Network(), "addr", l.Addr().String())
	}
}

// handleSignals reloads on SIGHUP and, after SIGTERM or SIGINT started the
// graceful shutdown (through the context run made), turns a second one
// into "close every client now".
func handleSignals(c *cli.Context, sigs <-chan os.Signal, srv *daemon.Server, o *options, logFile *daemon.LogFile, level *slog.LevelVar, log *slog.Logger, done <-chan struct{}) {
	stops := 0
	for {
		select {
		case <-done:
			return
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				if stops++; stops > 1 {
					log.Warn("second stop signal: closing every client now", "signal", sig.String())
					srv.Hurry()
				}
				continue
			}
			reload(c, srv, o, logFile, level, log)
		}
	}
}

// reload is SIGHUP: reopen the log file, re-read the settings. A bad config
// file is logged and the running settings stay.
func reload(c *cli.Context, srv *daemon.Server, o *options, logFile *daemon.LogFile, level *slog.LevelVar, log *slog.Logger) {
	if logFile != nil {
		if err := logFile.Reopen(); err != nil {
			log.Error("reopening log file; still writing to the old one", "err", err)
		}
	}
	t, limit, err := loadTunables(c, o.config, o.fileRoom)
	if err != nil {
		log.Error("reload failed; keeping the running settings", "err", err)
		return
	}
	warnFileRoom(log, t, limit, o.fileRoom, o.nofile)
	level.Set(t.LogLevel)
	if err := srv.Reload(t.Settings); err != nil {
		log.Error("reload failed; keeping the running settings", "err", err)
		return
	}
	log.Info("reloaded", "config", c.String("config"), "log_level", daemon.LogLevelName(t.LogLevel))
}
