// Package netserve holds what the protocol servers (SMTP, IMAP, POP3)
// share about connections: the limits of every listener (Limits) and the
// admission that applies them, the accept loop and session registry of
// IMAP and POP3 (Service), the connection with its deadlines (Conn), the
// peer's IP, and connection identifiers for the logs.
package netserve

import (
	"crypto/rand"
	"encoding/base32"
	"net"
	"net/netip"
	"strings"
)

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
