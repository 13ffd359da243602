package server

import (
	"net"
	"net/http"

	"postel/internal/web"
)

// serveHTTPS serves listen.https: ACME tls-alpn-01 challenges (through
// the certificates' TLS config), mail client autoconfiguration and the
// MTA-STS policies of the local domains (internal/web).
func (s *Server) serveHTTPS(ln net.Listener) error {
	c := s.cfg
	h := web.New(web.Config{
		Hostname: c.Hostname,
		Domains:  domainNames(s.st),
		Ports: web.Ports{
			IMAPS: web.ListenPort(c.Listen.IMAPS), IMAP: web.ListenPort(c.Listen.IMAP),
			POP3S: web.ListenPort(c.Listen.POP3S), POP3: web.ListenPort(c.Listen.POP3),
			Submissions: web.ListenPort(c.Listen.Submissions), Submission: web.ListenPort(c.Listen.Submission),
		},
		Log: s.log.With("service", "https"),
	})
	hs := web.NewServer(h, s.log.With("service", "https"))
	hs.TLSConfig = s.certs.HTTPSTLSConfig()
	s.addWeb(hs)
	return hs.ServeTLS(ln, "", "")
}

// serveHTTP serves listen.http: ACME http-01 challenges, and redirects
// everything else to HTTPS.
func (s *Server) serveHTTP(ln net.Listener) error {
	hs := web.NewServer(s.certs.HTTPHandler(web.Redirect(web.ListenPort(s.cfg.Listen.HTTPS))), s.log.With("service", "http"))
	s.addWeb(hs)
	return hs.Serve(ln)
}

func (s *Server) addWeb(hs *http.Server) {
	s.mu.Lock()
	s.web = append(s.web, hs)
	s.mu.Unlock()
}
