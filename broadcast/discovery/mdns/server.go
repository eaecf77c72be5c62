package mdns

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bcastdev/bcast/broadcast/discovery/lanlink"
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// ResponderConfig tunes the engine. An empty Host means this
	// machine's host name up to its first dot.
	ResponderConfig
	LinkConfig
}

// serverEvents bounds the ResponderEvents waiting for the reader of
// Server.Events; more are dropped and counted (ServerStats.EventsDropped).
// Name always gives the current name, whatever was dropped.
const serverEvents = 64

// A Server runs a Responder on the LAN: it publishes a host name and the
// services registered, probing for each name and renaming on conflict,
// and answers queries per interface, on port 5353 beside any other
// responder of the host (SO_REUSEPORT).
//
// A Server is safe for concurrent use.
type Server struct {
	r       *Responder
	run     *runner
	events  chan ResponderEvent
	dropped atomic.Uint64
}

// NewServer opens port 5353, joins the mDNS groups on the interfaces and
// starts probing for the host name.
func NewServer(cfg ServerConfig) (*Server, error) {
	if _, _, err := cfg.families(); err != nil {
		return nil, err
	}
	if cfg.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("mdns: no Host given and no host name: %w", err)
		}
		cfg.Host, _, _ = strings.Cut(h, ".")
	}
	r, err := NewResponder(cfg.ResponderConfig)
	if err != nil {
		return nil, err
	}
	l, err := cfg.open(Port)
	if err != nil {
		return nil, err
	}
	s := &Server{r: r, events: make(chan ResponderEvent, serverEvents)}
	s.run = newRunner(r, cfg.LinkConfig, l, []*lanlink.Link{l}, func(time.Time) {
		for _, ev := range r.Events() {
			select {
			case s.events <- ev:
			default:
				s.dropped.Add(1)
			}
		}
	})
	return s, nil
}

// Events reports names registered (per interface) and renamed after a
// conflict. The channel holds 64 events; more are dropped while it is
// full (ServerStats.EventsDropped), and Name gives the current name at
// any time. It is never closed.
func (s *Server) Events() <-chan ResponderEvent { return s.events }

// Register publishes a service instance: it is probed for on each
// interface, announced once its name is free there, and renamed ("Web
// (2)") if another host holds it.
func (s *Server) Register(svc Service) (ServiceID, error) {
	var id ServiceID
	var err error
	if derr := s.run.do(func(now time.Time) { id, err = s.r.Register(now, svc) }); derr != nil {
		return 0, derr
	}
	return id, err
}

// SetText replaces a service's TXT record and announces it.
func (s *Server) SetText(id ServiceID, text []TXTItem) error {
	var err error
	if derr := s.run.do(func(now time.Time) { err = s.r.SetText(now, id, text) }); derr != nil {
		return derr
	}
	return err
}

// Unregister withdraws a service; its goodbyes have been sent when it
// returns.
func (s *Server) Unregister(id ServiceID) error {
	var err error
	if derr := s.run.do(func(now time.Time) { err = s.r.Unregister(now, id) }); derr != nil {
		return derr
	}
	return err
}

// Name returns the current instance label of a service, or the host
// label for HostID, after any renames.
func (s *Server) Name(id ServiceID) (string, bool) {
	var name string
	var ok bool
	if s.run.do(func(time.Time) { name, ok = s.r.Name(id) }) != nil {
		name, ok = s.r.Name(id) // closed: nothing else touches it
	}
	return name, ok
}

// ServerStats counts what a Server did.
type ServerStats struct {
	ResponderStats
	LinkStats
	EventsDropped uint64
}

// Stats returns the Server's counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{LinkStats: s.run.linkStats(), EventsDropped: s.dropped.Load()}
	if s.run.do(func(time.Time) { st.ResponderStats = s.r.Stats() }) != nil {
		st.ResponderStats = s.r.Stats() // closed: nothing else touches it
	}
	return st
}

// Close says goodbye (TTL 0) for every record announced, in one packet
// per interface and family, and returns once those have been sent and
// the sockets closed.
func (s *Server) Close() error {
	return s.run.close(func(now time.Time) { s.r.Close(now) })
}
