package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"postel/internal/auth"
	"postel/internal/config"
	"postel/internal/metrics"
	"postel/internal/server"
	"postel/internal/store"
)

// The demo domain and account of dev mode.
const (
	devDomain  = "example.org"
	devAccount = "demo@example.org"
)

func runServe(e *env, args []string) error {
	initDir := e.flags.Bool("init", false, "create data_dir when it does not exist (postel init does it too); without it, a missing data_dir is an error, so that a mistyped path does not start an empty server")
	dev := e.flags.Bool("dev", false, "development mode: store under --data-dir (default ./data), a demo account, loopback ports 2525, 2587, 2465, 2143, 2993, 2110, 2995, admin (metrics) 2080")
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	var cfg *config.Config
	var err error
	if *dev && e.configPath == "" {
		dir := e.dataDir
		if dir == "" {
			dir = "./data"
		}
		cfg = config.Dev(dir)
		err = cfg.Validate()
	} else {
		cfg, err = e.loadConfig()
	}
	if err != nil {
		return err
	}
	if !*dev {
		// What a production server needs beyond valid values: the data
		// dir, a real host name, a certificate matching its key.
		if err := cfg.Check(config.CheckOptions{CreateDataDir: *initDir}); err != nil {
			return err
		}
	}
	level := new(slog.LevelVar)
	level.Set(cfg.Log.SlogLevel())
	log := newLogger(cfg, level, e.stderr)
	slog.SetDefault(log)

	// One registry for the server's metrics, the store's commits included.
	m := metrics.New()
	st, err := openStore(e.ctx, cfg, true, log.With("component", "store"), m)
	if err != nil {
		return err
	}
	defer st.Close()
	var devPassword string
	if *dev {
		if devPassword, err = ensureDemo(e.ctx, st, cfg.DataDir); err != nil {
			return err
		}
	}

	// Signals are caught before the server says it is ready: a SIGTERM
	// right after READY=1 must drain, not kill.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	defer signal.Stop(hups)

	srv, err := server.New(cfg, st, log)
	if err != nil {
		return err
	}
	srv.LogLevel = level
	srv.Metrics = m
	if !*dev || e.configPath != "" {
		srv.ReadConfig = e.loadConfig
	}
	if err := srv.Start(); err != nil {
		return err
	}
	if *dev {
		printBanner(e.stdout, srv, devPassword)
	}
	// Every listener is bound and the control socket is up: say so, in
	// the log and to systemd (Type=notify).
	b := readBuildInfo()
	var addrs []any
	for _, l := range srv.Listeners() {
		addrs = append(addrs, slog.String(l.Key, l.Addr))
	}
	log.Info("ready", "version", b.Version, "commit", b.Commit, "hostname", cfg.Hostname, "data_dir", cfg.DataDir,
		slog.Group("listen", addrs...), "control", srv.ControlPath())
	if err := sdNotify("READY=1"); err != nil {
		log.Warn("telling systemd the server is ready failed", "err", err)
	}

	var runErr error
wait:
	for {
		select {
		case <-hups:
			// SIGHUP: the config, certificates and DKIM keys again; open
			// sessions keep running (systemd's ExecReload sends it).
			log.Info("reloading", "signal", "hangup")
			sdNotify("RELOADING=1")
			srv.ReloadConfig(e.ctx) // logs what it applied and what failed
			sdNotify("READY=1")
		case sig := <-sigs:
			log.Info("shutting down: letting transactions in flight finish", "signal", sig.String(), "timeout", time.Duration(cfg.ShutdownTimeout).String())
			break wait
		case runErr = <-srv.Errors():
			log.Error("shutting down after a listener failed", "err", runErr)
			break wait
		case <-e.ctx.Done():
			break wait
		}
	}
	if err := sdNotify("STOPPING=1"); err != nil {
		log.Warn("telling systemd the server is stopping failed", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("shutdown did not finish cleanly", "err", err)
	}
	log.Info("postel stopped")
	return runErr
}

// newLogger makes the server's log, at level (which SIGHUP may change).
func newLogger(cfg *config.Config, level slog.Leveler, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// ensureDemo makes the demo domain and account on first start; the
// password is random and kept in data_dir/dev-password.
func ensureDemo(ctx context.Context, st store.Store, dataDir string) (string, error) {
	pwFile := filepath.Join(dataDir, "dev-password")
	if b, err := os.ReadFile(pwFile); err == nil {
		if _, err := st.Account(ctx, devAccount); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	if err := st.AddDomain(ctx, devDomain); err != nil && !errors.Is(err, store.ErrExists) {
		return "", err
	}
	pw := rand.Text()[:16]
	cred, err := auth.NewCredentials(pw)
	if err != nil {
		return "", err
	}
	if _, err := st.CreateAccount(ctx, devAccount, cred); errors.Is(err, store.ErrExists) {
		err = st.SetCredentials(ctx, devAccount, cred)
	} else if err != nil {
		return "", err
	}
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		return "", err
	}
	return pw, nil
}

func printBanner(w io.Writer, srv *server.Server, password string) {
	port := func(key string) string {
		if a := srv.Addr(key); a != nil {
			return a.String()
		}
		return "(not served yet)"
	}
	fmt.Fprintf(w, `
Postel is running in development mode (data in the --data-dir, loopback only).

  SMTP (MX, STARTTLS)        %s
  Submission (STARTTLS)      %s   passwords also accepted without TLS on loopback in dev mode
  Submissions (implicit TLS) %s
  IMAP (STARTTLS) / IMAPS    %s / %s
  POP3 (STLS) / POP3S        %s / %s
  Metrics and health         http://%s/metrics  /healthz  /readyz

  Account:  %s
  Password: %s
  The TLS certificate is self-signed: tell your client to accept it.

Send a test message (it lands in the demo account's INBOX):

  printf 'From: you@example.net\r\nTo: %s\r\nSubject: Hello Postel\r\n\r\nIt works.\r\n' | curl -sS smtp://%s --mail-from you@example.net --mail-rcpt %s -T -

Read it over IMAP (here with curl; any mail client works, accepting the certificate):

  curl -sk --user '%s:%s' 'imaps://%s/INBOX;UID=1'

Stop with Ctrl-C.
`, port("smtp"), port("submission"), port("submissions"), port("imap"), port("imaps"), port("pop3"), port("pop3s"), port("admin"), devAccount, password, devAccount, port("smtp"), devAccount,
		devAccount, password, port("imaps"))
}
