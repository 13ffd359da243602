// Package netserve holds what the protocol servers (SMTP, IMAP, POP3)
// share about connections: admission under a total and a per-IP limit,
// the peer's IP, and connection identifiers for the logs.
package netserve

import (
	"crypto/rand"
	"encoding/base32"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Refusal says why a connection was not admitted.
type Refusal int

// The reasons Admit refuses.
const (
	Admitted      Refusal = iota
	TooMany               // the server's total limit
	TooManyFromIP         // the per-IP limit
)

// Admission counts a server's connections, in total and per IP address.
type Admission struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

// NewAdmission bounds connections to max in total and perIP from one
// address (one /64 for IPv6).
func NewAdmission(max, perIP int) *Admission {
	return &Admission{max: max, perIP: perIP, byIP: map[netip.Addr]int{}}
}

// source is what the per-IP limit counts: the address, or for IPv6 its
// /64, which one host usually has whole.
func source(ip netip.Addr) netip.Addr {
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// Admit counts a connection from ip, unless a limit is reached. Every
// admitted connection must be Released.
func (a *Admission) Admit(ip netip.Addr) Refusal {
	ip = source(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.total >= a.max:
		return TooMany
	case a.byIP[ip] >= a.perIP:
		return TooManyFromIP
	}
	a.total++
	a.byIP[ip]++
	return Admitted
}

// Release forgets an admitted connection.
func (a *Admission) Release(ip netip.Addr) {
	ip = source(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.total--
	if a.byIP[ip]--; a.byIP[ip] <= 0 {
		delete(a.byIP, ip)
	}
}

// Count is how many admitted connections come from ip.
func (a *Admission) Count(ip netip.Addr) int {
	ip = source(ip)
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.byIP[ip]
}

// RemoteIP returns the IP of a connection's peer (IPv4-mapped addresses
// unmapped), or the zero Addr when it has none (net.Pipe).
func RemoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random identifier (80 bits) for connections in logs, and
// for Message-IDs.
func NewID() string {
	var b [10]byte
	rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// Conn is a client's connection below any TLS layer, as the IMAP and POP3
// sessions use it: every write gets a deadline, and Shutdown can interrupt
// a session waiting for input.
type Conn struct {
	net.Conn
	WriteTimeout time.Duration
	closing      atomic.Bool
}

func (c *Conn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	return c.Conn.Write(p)
}

// ReadBy sets the deadline of the reads to come and reports whether the
// session must end instead because the server is shutting down. Together
// with Interrupt it never misses a shutdown: either ReadBy sees the flag,
// or Interrupt's deadline comes after ReadBy's and ends the read.
func (c *Conn) ReadBy(t time.Time) (closing bool) {
	c.Conn.SetReadDeadline(t)
	return c.closing.Load()
}

// Interrupt makes the session's current and future reads fail.
func (c *Conn) Interrupt() {
	c.closing.Store(true)
	c.CancelRead()
}

// Closing tells whether Interrupt was called.
func (c *Conn) Closing() bool { return c.closing.Load() }

// CancelRead makes a read in progress fail now, without ending the session
// (IMAP IDLE's reader when IDLE ends otherwise than by DONE).
func (c *Conn) CancelRead() {
	c.Conn.SetReadDeadline(time.Unix(1, 0))
}

// CloseWrite shuts the sending side of a TCP connection (a FIN): the
// client sees the end of the output while its own can still be read.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
