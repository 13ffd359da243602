package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"postel/internal/config"
)

// liveKeys are the configuration keys Reload applies to the running
// server, and livePrefixes the tables it applies whole; a change of any
// other key waits for the next start.
var (
	liveKeys     = []string{"log.level", "log.trace_accounts", "log.trace_dir"}
	livePrefixes = []string{"limits."}
)

// live reports whether Reload applies key.
func live(key string) bool {
	return slices.Contains(liveKeys, key) || slices.ContainsFunc(livePrefixes, func(p string) bool { return strings.HasPrefix(key, p) })
}

// ReloadConfig reads the configuration again (ReadConfig) and applies it
// with Reload: SIGHUP and postel reload. A configuration that does not
// read or validate changes nothing.
func (s *Server) ReloadConfig(ctx context.Context) error {
	cfg := s.cfg
	if s.ReadConfig != nil {
		var err error
		if cfg, err = s.ReadConfig(); err != nil {
			s.log.Error("reload: the configuration was not applied", "err", err)
			return fmt.Errorf("reload: %w", err)
		}
	}
	return s.Reload(cfg)
}

// Reload applies cfg to the running server, open sessions untouched: it
// reads the certificates again (the operator's files, and the names of
// the local domains for ACME: domains added since get certificates), the
// DKIM keys under data_dir/dkim (for signing and ARC sealing; on a store
// the nodes share, first in step with the store: syncSharedFiles), sets the
// log level, which accounts' sessions go to trace files ([log]
// trace_accounts, trace_dir) and the connection limits ([limits]: for
// new connections and the deadlines of open ones; none is dropped). Every other key whose value changed is named
// in the log: it takes effect at the next start. Each part that fails
// keeps what was in use and is reported.
func (s *Server) Reload(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var errs []error
	if err := s.certs.Reload(); err != nil {
		errs = append(errs, fmt.Errorf("certificates: %w", err))
	}
	// Keys another node published since reach data_dir before the DKIM
	// keys are read again; a conflict keeps this node's and is reported.
	if err := s.syncSharedFiles(false); err != nil {
		errs = append(errs, fmt.Errorf("shared files: %w", err))
	}
	if s.signer != nil {
		if err := s.signer.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("DKIM keys: %w", err))
		} else if d := s.signer.Domains(); len(d) > 0 {
			s.log.Info("DKIM signing", "domains", d)
		}
	}
	if s.LogLevel != nil {
		s.LogLevel.Set(cfg.Log.SlogLevel())
	}
	if err := s.reloadTraceFiles(cfg.Log); err != nil {
		errs = append(errs, fmt.Errorf("trace files: %w", err))
	}
	if limits, err := connLimits(cfg.Limits); err != nil {
		errs = append(errs, fmt.Errorf("limits: %w", err))
	} else {
		for _, srv := range s.smtp {
			srv.SetLimits(limits)
		}
		s.imap.SetLimits(limits)
		s.pop3.SetLimits(limits)
	}
	var later []string
	for _, k := range config.Diff(s.cfg, cfg) {
		if !live(k) {
			later = append(later, k)
		}
	}
	if len(later) > 0 {
		s.log.Warn("reload: changed in the configuration, applied at the next start", "keys", later)
	}
	err := errors.Join(errs...)
	if err != nil {
		s.log.Error("reload: kept what was in use for what failed", "err", err)
	} else {
		s.log.Info("reloaded", "certificates", len(s.certs.Certificates()))
	}
	return err
}
