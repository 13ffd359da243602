package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"postel/internal/admin"
	"postel/internal/config"
	"postel/internal/metrics"
	"postel/internal/store"
	"postel/internal/trace"
	"postel/internal/web"
)

// What the operator sees of a running server: the admin listener
// (listen.admin: /metrics, /healthz, /readyz), protocol traces (postel
// trace through the control socket, and [log] trace_accounts files).

// readyTimeout bounds /readyz's read of the store.
const readyTimeout = 2 * time.Second

// observe makes the metrics (unless Metrics was set) and the collectors
// read at each scrape: the queue from the store, the certificates in
// service.
func (s *Server) observe() {
	if s.Metrics == nil {
		s.Metrics = metrics.New()
	}
	m := s.Metrics
	s.trace.Dropped = m.TraceDropped
	if qs, ok := s.st.(store.QueueStatser); ok {
		m.WatchQueue(qs.QueueStats)
	}
	m.WatchCertificates(func() []metrics.Cert {
		var out []metrics.Cert
		for _, c := range s.certs.Certificates() {
			out = append(out, metrics.Cert{Name: c.Name, Source: c.Source, NotAfter: c.NotAfter})
		}
		return out
	})
}

// startAdmin binds listen.admin and serves it. The admin listener is the
// operator's, not the users': one that cannot be bound (its port taken)
// is logged as an error and the mail service runs without it. One beyond
// loopback is warned about: it has no authentication.
func (s *Server) startAdmin() {
	addr := s.cfg.Listen.Admin
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.log.Error("admin listener not started: no /metrics, /healthz or /readyz", "listener", "admin", "addr", addr, "err", err)
		return
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
		s.log.Warn("the admin listener is reachable beyond loopback and has no authentication: firewall it", "addr", ln.Addr().String())
	}
	hs := web.NewServer(s.adminHandler(), s.log.With("service", "admin"))
	s.mu.Lock()
	s.listeners["admin"] = ln
	s.order = append(s.order, "admin")
	s.admin = hs
	s.mu.Unlock()
	s.log.Info("listening", "listener", "admin", "addr", ln.Addr().String(), "implicit_tls", false)
	s.adminDone = make(chan struct{})
	go func() {
		defer close(s.adminDone)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin listener stopped", "err", err)
		}
	}()
}

// stopAdmin ends the admin listener, last of all: /readyz says why the
// server is not ready while it drains.
func (s *Server) stopAdmin(ctx context.Context) {
	s.mu.Lock()
	hs := s.admin
	s.mu.Unlock()
	if hs == nil {
		return
	}
	if err := hs.Shutdown(ctx); err != nil {
		hs.Close()
	}
	<-s.adminDone
}

// adminHandler serves /metrics, /healthz and /readyz.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if reasons := s.notReady(r.Context()); len(reasons) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %s\n", strings.Join(reasons, "; "))
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// notReady lists why the server cannot take mail now: not started yet or
// stopping, a configured listener not bound, or a store that does not
// answer a trivial read. None: ready.
func (s *Server) notReady(ctx context.Context) []string {
	var out []string
	switch {
	case s.stopping.Load():
		out = append(out, "shutting down")
	case !s.started.Load():
		out = append(out, "starting")
	}
	s.mu.Lock()
	for _, l := range s.configured() {
		if _, ok := s.listeners[l.key]; !ok {
			out = append(out, fmt.Sprintf("listener %s (%s) not bound", l.key, l.addr))
		}
	}
	s.mu.Unlock()
	if p, ok := s.st.(store.Pinger); ok {
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			out = append(out, "store: "+err.Error())
		}
	}
	return out
}

// configured lists the mail and web listeners the config asks for.
func (s *Server) configured() []listener {
	c := s.cfg.Listen
	var out []listener
	for _, l := range []listener{
		{key: "smtp", addr: c.SMTP}, {key: "submission", addr: c.Submission}, {key: "submissions", addr: c.Submissions},
		{key: "imap", addr: c.IMAP}, {key: "imaps", addr: c.IMAPS}, {key: "pop3", addr: c.POP3}, {key: "pop3s", addr: c.POP3S},
		{key: "https", addr: c.HTTPS}, {key: "http", addr: c.HTTP},
	} {
		if l.addr != "" {
			out = append(out, l)
		}
	}
	return out
}

// startTraceFiles writes the sessions of [log] trace_accounts to files
// (nothing when there are none), in place of those written so far.
func (s *Server) startTraceFiles(c config.Log) error {
	s.mu.Lock()
	old := s.traceFiles
	s.traceFiles, s.traceLog = nil, c
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if len(c.TraceAccounts) == 0 {
		return nil
	}
	dir := c.TraceDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(s.cfg.DataDir, dir)
	}
	f, err := s.trace.WriteFiles(c.TraceAccounts, dir, s.log.With("component", "trace"))
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.traceFiles = f
	s.mu.Unlock()
	s.log.Info("writing protocol traces", "accounts", c.TraceAccounts, "dir", dir)
	return nil
}

// reloadTraceFiles applies [log] trace_accounts and trace_dir when they
// changed (Reload).
func (s *Server) reloadTraceFiles(c config.Log) error {
	s.mu.Lock()
	cur := s.traceLog
	s.mu.Unlock()
	if slices.Equal(cur.TraceAccounts, c.TraceAccounts) && cur.TraceDir == c.TraceDir {
		return nil
	}
	return s.startTraceFiles(c)
}

// stopTraceFiles ends the trace files, when written.
func (s *Server) stopTraceFiles() {
	s.mu.Lock()
	f := s.traceFiles
	s.traceFiles = nil
	s.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// traceArgs are the arguments of the "trace" stream.
type traceArgs struct {
	Targets []string `json:"targets"`
}

// traceBuffer is how many lines a postel trace may lag behind before
// lines are dropped (and it is told how many).
const traceBuffer = 4096

// streamTrace is the control socket's "trace": the lines of the sessions
// the targets match, first a note saying what is traced, until the
// client leaves or the server stops.
func (s *Server) streamTrace(ctx context.Context, raw json.RawMessage, send func(any) error) error {
	var a traceArgs
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a); err != nil {
			return &admin.Error{Kind: admin.KindInvalid, Text: "trace: malformed arguments"}
		}
	}
	if len(a.Targets) == 0 {
		return &admin.Error{Kind: admin.KindInvalid, Text: "trace: name an account or an IP address"}
	}
	f, err := trace.ParseFilter(a.Targets)
	if err != nil {
		return &admin.Error{Kind: admin.KindInvalid, Text: err.Error()}
	}
	sub := s.trace.Subscribe(f, traceBuffer)
	defer sub.Close()
	note := func(text string) error {
		return send(trace.Event{Time: time.Now(), Proto: "postel", Dir: trace.Note, Text: text})
	}
	if err := note("tracing " + f.String() + ": sessions from their next command, accounts from their login"); err != nil {
		return err
	}
	var dropped int64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-sub.Events():
			if d := sub.Dropped(); d > dropped {
				if err := note(fmt.Sprintf("%d lines lost: this trace read too slowly", d-dropped)); err != nil {
					return err
				}
				dropped = d
			}
			if err := send(e); err != nil {
				return err
			}
		}
	}
}
