// Package dnstest runs a small DNS server on 127.0.0.1 for tests: it
// answers, over UDP and TCP on one port, from records given in zone-file
// syntax, like a recursive resolver would (CNAME chains followed, NXDOMAIN
// for names that do not exist, NODATA for names without records of the type
// asked). Switches make it set the AD bit (a validating resolver vouching for
// DNSSEC), answer a name with an error RCODE, truncate UDP answers or drop
// queries. Only tests import it.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	// Addr is "127.0.0.1:port", serving UDP and TCP.
	Addr string

	udp, tcp *dns.Server

	mu       sync.Mutex
	records  map[string][]dns.RR // by lower-case absolute owner name
	ad       bool
	rcodes   map[string]int // forced RCODE per name
	truncate bool
	drop     int // UDP queries still to ignore
	queries  int
}

// New starts a Server; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{records: map[string][]dns.RR{}, rcodes: map[string]int{}}
	var pc net.PacketConn
	var l net.Listener
	// UDP and TCP on the same port: take a free UDP port, then its TCP
	// twin; retry when the twin is taken.
	for range 20 {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("dnstest: %v", err)
		}
		l, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("dnstest: no port free for both UDP and TCP")
	}
	s.Addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: l, Handler: s}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	t.Cleanup(func() {
		s.udp.Shutdown()
		s.tcp.Shutdown()
	})
	return s
}

// Add adds records in zone-file syntax, one per string, e.g.
// "example.org. 300 IN MX 10 mx.example.org.". A bad record fails the test
// through panic, as it is a mistake in the test itself.
func (s *Server) Add(records ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, text := range records {
		rr, err := dns.NewRR(text)
		if err != nil || rr == nil {
			panic("dnstest: bad record " + text + ": " + errString(err))
		}
		name := strings.ToLower(rr.Header().Name)
		s.records[name] = append(s.records[name], rr)
	}
}

// Remove drops the records of name with type rrtype (dns.TypeNone: all).
func (s *Server) Remove(name string, rrtype uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	var keep []dns.RR
	for _, rr := range s.records[name] {
		if rrtype != dns.TypeNone && rr.Header().Rrtype != rrtype {
			keep = append(keep, rr)
		}
	}
	if len(keep) == 0 {
		delete(s.records, name)
	} else {
		s.records[name] = keep
	}
}

// SetAuthenticated makes every answer carry the AD bit, as a validating
// resolver does for DNSSEC-secure data, or not.
func (s *Server) SetAuthenticated(on bool) {
	s.mu.Lock()
	s.ad = on
	s.mu.Unlock()
}

// SetRcode makes queries for name answered with rcode (e.g.
// dns.RcodeServerFailure); dns.RcodeSuccess restores normal answers.
func (s *Server) SetRcode(name string, rcode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name = strings.ToLower(dns.Fqdn(name))
	if rcode == dns.RcodeSuccess {
		delete(s.rcodes, name)
	} else {
		s.rcodes[name] = rcode
	}
}

// SetTruncate makes every UDP answer empty with the TC bit set, so that
// clients must ask again over TCP.
func (s *Server) SetTruncate(on bool) {
	s.mu.Lock()
	s.truncate = on
	s.mu.Unlock()
}

// Drop makes the server ignore the next n UDP queries (a lost packet, or a
// server that does not answer).
func (s *Server) Drop(n int) {
	s.mu.Lock()
	s.drop = n
	s.mu.Unlock()
}

// Queries is the number of queries received so far (dropped ones included).
func (s *Server) Queries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// ServeDNS implements dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	if udp && s.drop > 0 {
		s.drop--
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	m.AuthenticatedData = s.ad
	switch {
	case len(req.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	case udp && s.truncate:
		m.Truncated = true
	default:
		s.answer(m, req.Question[0])
	}
	w.WriteMsg(m)
}

// answer fills m for question q; s.mu is held.
func (s *Server) answer(m *dns.Msg, q dns.Question) {
	name := strings.ToLower(q.Name)
	if rc, ok := s.rcodes[name]; ok {
		m.Rcode = rc
		return
	}
	for range 8 {
		if !s.exists(name) {
			if len(m.Answer) == 0 {
				m.Rcode = dns.RcodeNameError
			}
			return
		}
		var cname string
		for _, rr := range s.records[name] {
			switch {
			case rr.Header().Rrtype == q.Qtype:
				m.Answer = append(m.Answer, dns.Copy(rr))
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = strings.ToLower(rr.(*dns.CNAME).Target)
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		if cname == "" || q.Qtype == dns.TypeCNAME {
			return
		}
		name = cname
	}
}

// exists reports whether name owns records or is an empty non-terminal
// (an ancestor of a name that does, RFC 8020); s.mu is held.
func (s *Server) exists(name string) bool {
	if len(s.records[name]) > 0 {
		return true
	}
	for owner := range s.records {
		if strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}

func errString(err error) string {
	if err == nil {
		return "empty"
	}
	return err.Error()
}
