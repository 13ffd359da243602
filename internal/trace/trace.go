// Package trace shows, on demand, what a client and the server say to each
// other: protocol traces of the SMTP, IMAP and POP3 sessions that match a
// filter (an account, or client addresses), with passwords, SASL
// exchanges and message bodies left out. `postel trace` reads them through
// the control socket; [log] trace_accounts writes them to files.
//
// A protocol server starts a Session per connection (Hub.Start) and hands
// it what it reads from the client and writes to it, above TLS and
// compression (Client, Server): a Session that no trace wants costs one
// atomic load per read or write. One that a trace wants cuts the bytes
// into lines, passes each line through the protocol's Redactor, and sends
// the lines it returns to the traces that match.
//
// Invariants:
//   - No byte of the client's or the server's reaches a trace except
//     through the Redactor, which has seen every byte of the stream since
//     the point it started at. A Session starts (or starts again) only at
//     a point where the protocol is between commands with no unread input
//     buffered (Sync with 0), so the Redactor never starts in the middle
//     of a message body, a literal or a SASL exchange.
//   - A trace never slows a session down: events go to each trace's
//     buffer without waiting; a full buffer drops them and counts how
//     many (Sub.Dropped).
//   - Lines before login are kept (a few) while some trace filters on an
//     account, and shown once the session logs in as a matching account,
//     so that a trace of an account shows its login.
package trace

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Who said a line (Event.Dir).
const (
	FromClient = "C"
	FromServer = "S"
	Note       = "*" // a remark of the server's, not on the wire
)

// Event is one line of a trace.
type Event struct {
	Time    time.Time `json:"time"`
	Conn    string    `json:"conn"`
	Proto   string    `json:"proto"` // "smtp", "submission", "imap", "pop3"
	Remote  string    `json:"remote"`
	Account string    `json:"account,omitempty"` // once logged in
	Dir     string    `json:"dir"`
	Text    string    `json:"text"`
}

// Format is the line of e that postel trace prints and trace files hold:
//
//	2025-01-02T03:04:05.678Z imap conn=abcd 192.0.2.1 alice@example.org C: a1 LOGIN alice@example.org ***
func Format(e Event) string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
	b.WriteString(" " + e.Proto)
	if e.Conn != "" {
		fmt.Fprintf(&b, " conn=%s %s", e.Conn, e.Remote)
	}
	if e.Account != "" {
		b.WriteString(" " + e.Account)
	}
	b.WriteString(" " + e.Dir + ": " + e.Text)
	return b.String()
}

// Filter says which sessions a trace wants: those logged in as one of
// Accounts, or from one of Nets. The zero Filter wants none.
type Filter struct {
	Accounts []string // lower-case addresses
	Nets     []netip.Prefix
}

// ParseFilter reads targets: account addresses (with an @), IP addresses
// and CIDR networks.
func ParseFilter(targets []string) (Filter, error) {
	var f Filter
	for _, t := range targets {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			return f, fmt.Errorf("trace: empty target")
		case strings.Contains(t, "@"):
			if strings.ContainsAny(t, " \t\r\n") || !utf8.ValidString(t) {
				return f, fmt.Errorf("trace: %q is not an address", t)
			}
			f.Accounts = append(f.Accounts, strings.ToLower(t))
		case strings.Contains(t, "/"):
			p, err := netip.ParsePrefix(t)
			if err != nil {
				return f, fmt.Errorf("trace: %q is not an address, an IP or a network", t)
			}
			f.Nets = append(f.Nets, p.Masked())
		default:
			ip, err := netip.ParseAddr(t)
			if err != nil {
				return f, fmt.Errorf("trace: %q is not an address, an IP or a network", t)
			}
			ip = ip.Unmap()
			f.Nets = append(f.Nets, netip.PrefixFrom(ip, ip.BitLen()))
		}
	}
	return f, nil
}

// String names the filter's targets, for messages.
func (f Filter) String() string {
	var out []string
	out = append(out, f.Accounts...)
	for _, n := range f.Nets {
		if n.IsSingleIP() {
			out = append(out, n.Addr().String())
		} else {
			out = append(out, n.String())
		}
	}
	return strings.Join(out, ", ")
}

func (f Filter) matches(account string, remote netip.Addr) bool {
	if account != "" {
		for _, a := range f.Accounts {
			if a == account {
				return true
			}
		}
	}
	remote = remote.Unmap()
	for _, n := range f.Nets {
		if n.Contains(remote) {
			return true
		}
	}
	return false
}

// Hub is the traces of a server: the subscriptions, and the Sessions that
// look them up. A nil *Hub traces nothing.
type Hub struct {
	// gen moves on at every Subscribe and Close, so that Sessions look
	// again only then; accounts counts the subscriptions filtering on an
	// account (Sessions keep their lines before login while it is > 0).
	gen      atomic.Uint64
	accounts atomic.Int32

	mu   sync.Mutex
	subs map[*Sub]struct{}

	// Dropped, when set, is told how many lines a slow trace lost.
	Dropped func(n int)
}

// NewHub returns a Hub with no trace.
func NewHub() *Hub { return &Hub{subs: map[*Sub]struct{}{}} }

// Sub is one trace: the events of the sessions its filter matches.
type Sub struct {
	hub *Hub
	f   Filter
	ch  chan Event

	mu      sync.Mutex
	closed  bool
	dropped atomic.Int64
}

// Subscribe starts a trace of the sessions f matches, with room for
// buffer events that its reader has not taken yet. Sessions running join
// it between two commands: after the command they are waiting for.
func (h *Hub) Subscribe(f Filter, buffer int) *Sub {
	s := &Sub{hub: h, f: f, ch: make(chan Event, max(buffer, 1))}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	if len(f.Accounts) > 0 {
		h.accounts.Add(1)
	}
	h.mu.Unlock()
	h.gen.Add(1)
	return s
}

// Events are the trace's lines.
func (s *Sub) Events() <-chan Event { return s.ch }

// Dropped is how many events the trace lost because its buffer was full.
func (s *Sub) Dropped() int64 { return s.dropped.Load() }

// Filter is what the trace wants.
func (s *Sub) Filter() Filter { return s.f }

// Close ends the trace; its channel is not closed (sessions may still
// hold it), only no longer fed.
func (s *Sub) Close() {
	h := s.hub
	h.mu.Lock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		if len(s.f.Accounts) > 0 {
			h.accounts.Add(-1)
		}
	}
	h.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	h.gen.Add(1)
}

// send offers e without waiting.
func (s *Sub) send(e Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.ch <- e:
	default:
		s.dropped.Add(1)
		if d := s.hub.Dropped; d != nil {
			d(1)
		}
	}
}

// match lists the traces that want a session.
func (h *Hub) match(account string, remote netip.Addr) []*Sub {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Sub
	for s := range h.subs {
		if s.f.matches(account, remote) {
			out = append(out, s)
		}
	}
	return out
}
