// Package web serves what mail clients and sending servers fetch over
// HTTPS from a mail server: Thunderbird's autoconfiguration
// (autoconfig.go), Outlook's autodiscover (autodiscover.go) and the
// MTA-STS policy of every local domain (mtasts.go, RFC 8461); and, on
// plain HTTP, a redirect to HTTPS (redirect.go).
//
// Every answer is generated from the Config and the list of local
// domains: nothing is read from disk, so there are no files to list or
// escape from. Errors are short plain-text bodies; a server fault is
// logged in full and answered "internal error".
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Config is what the handlers are generated from.
type Config struct {
	// Hostname is the server's name: the host mail clients are told to
	// use, and the mx of the MTA-STS policy.
	Hostname string
	// Domains lists the local domains, asked at each request.
	Domains func(context.Context) ([]string, error)
	// Ports are the ports mail clients are told to use.
	Ports Ports
	// MTASTSMode is the policy's mode (RFC 8461 §5): "enforce" (the
	// default: senders deliver only to Hostname, over TLS with a valid
	// certificate, which is right when this host is the only MX of every
	// local domain and its certificate is trusted), "testing" (senders
	// report failures but deliver anyway) or "none".
	MTASTSMode string
	// MTASTSMaxAge is how long senders may keep the policy (RFC 8461
	// §3.2, at most a year); zero means DefaultMTASTSMaxAge.
	MTASTSMaxAge time.Duration
	// Log receives server faults; nil means slog.Default().
	Log *slog.Logger
}

// Ports are the ports mail clients are told to use for each service;
// zero leaves a service out.
type Ports struct {
	IMAPS, IMAP, POP3S, POP3, Submissions, Submission int
}

// StandardPorts are the well-known ports: IMAP 993 (implicit TLS) and 143,
// POP3 995 and 110, submission 465 (implicit TLS, RFC 8314) and 587
// (RFC 6409).
var StandardPorts = Ports{IMAPS: 993, IMAP: 143, POP3S: 995, POP3: 110, Submissions: 465, Submission: 587}

// ListenPort returns the port of a listen address such as ":993" or
// "127.0.0.1:2993", or 0 when addr is empty or has no numeric port: a
// helper for filling Ports from the listen configuration.
func ListenPort(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n <= 0 || n > 65535 {
		return 0
	}
	return n
}

// Handler is the http.Handler of the HTTPS listener.
type Handler struct {
	cfg    Config
	log    *slog.Logger
	policy STSPolicy
}

// route is one resource: its path, the methods it answers, and the
// function that answers.
type route struct {
	path    string
	fold    bool // compare the path case-insensitively
	methods []string
	serve   func(h *Handler, w http.ResponseWriter, r *http.Request)
}

// routes is every resource the handler serves; anything else is 404.
var routes = []route{
	// RFC 8461 §3.3.
	{"/.well-known/mta-sts.txt", false, []string{http.MethodGet, http.MethodHead}, (*Handler).mtaSTS},
	// Thunderbird: on autoconfig.DOMAIN, then on DOMAIN itself.
	{"/mail/config-v1.1.xml", false, []string{http.MethodGet, http.MethodHead}, (*Handler).autoconfig},
	{"/.well-known/autoconfig/mail/config-v1.1.xml", false, []string{http.MethodGet, http.MethodHead}, (*Handler).autoconfig},
	// Outlook writes the path with capitals or without.
	{"/autodiscover/autodiscover.xml", true, []string{http.MethodPost}, (*Handler).autodiscover},
}

// New returns the handler of the HTTPS listener.
func New(cfg Config) *Handler {
	cfg.Hostname = normalize(cfg.Hostname)
	h := &Handler{cfg: cfg, log: cfg.Log, policy: cfg.Policy()}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.log = h.log.With("component", "web")
	return h
}

// ServeHTTP dispatches a request to its route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, rt := range routes {
		if r.URL.Path != rt.path && !(rt.fold && strings.EqualFold(r.URL.Path, rt.path)) {
			continue
		}
		for _, m := range rt.methods {
			if r.Method == m {
				rt.serve(h, w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	http.Error(w, "not found", http.StatusNotFound)
}

// isLocal reports whether domain (normalized) is a local domain.
func (h *Handler) isLocal(ctx context.Context, domain string) (bool, error) {
	if domain == "" {
		return false, nil
	}
	domains, err := h.cfg.Domains(ctx)
	if err != nil {
		return false, err
	}
	for _, d := range domains {
		if normalize(d) == domain {
			return true, nil
		}
	}
	return false, nil
}

// fault answers a server fault: logged in full, answered "internal error"
// (the error text never reaches the client).
func (h *Handler) fault(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Error("request failed", "path", r.URL.Path, "host", r.Host, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// hostOf returns the host of a request's Host field, normalized, without
// its port.
func hostOf(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	return normalize(host)
}

// normalize folds a name to lower case and drops a trailing dot (RFC 4343:
// DNS names compare case-insensitively).
func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// NewServer returns the http.Server recommended for h: a header must
// arrive within 10 seconds (the TLS handshake too), a whole request within
// 30, an answer be written within 30, an idle keep-alive connection is
// closed after 2 minutes, and request headers are limited to 16 KiB
// (request bodies are limited by the handlers that read one). Its error
// log (failed handshakes, mostly scanners) goes to log at debug level.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.With("component", "web").Handler(), slog.LevelDebug),
	}
}
