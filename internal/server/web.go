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
			IMAPS: s.port("imaps"), IMAP: s.port("imap"),
			POP3S: s.port("pop3s"), POP3: s.port("pop3"),
			Submissions: s.port("submissions"), Submission: s.port("submission"),
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
	hs := web.NewServer(s.certs.HTTPHandler(web.Redirect(s.port("https"))), s.log.With("service", "http"))
	s.addWeb(hs)
	return hs.Serve(ln)
}

func (s *Server) addWeb(hs *http.Server) {
	s.mu.Lock()
	s.web = append(s.web, hs)
	s.mu.Unlock()
}

// port is the port a listener is bound to (listen.X may say 0: any free
// port), 0 when it is not served.
func (s *Server) port(key string) int {
	if a, ok := s.Addr(key).(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}
