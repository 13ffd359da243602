package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// maxPlainPhase bounds what a server may send before TLS (greeting and
// EHLO reply) or before go-smtp takes over.
const maxPlainPhase = 64 << 10

// quitTimeout bounds the QUIT of a connection being closed.
const quitTimeout = 5 * time.Second

// session is an open SMTP connection to one address of one MX host, greeted,
// past STARTTLS when there was one, and ready for a transaction.
type session struct {
	key  string // pool key: address and host name
	mta  string // host name (the address for an address literal), for replies
	conn net.Conn
	c    *smtp.Client
	tls  tlsState
	// reused: the session came from the pool, so a failure of its first
	// command may just mean the server closed it meanwhile.
	reused    bool
	idleSince time.Time
}

func sessionKey(addr netip.AddrPort, host string) string {
	return addr.String() + "|" + host
}

// dialError is a failure to set up a session, with the reply to record and
// whether the same host may be tried again without TLS (opportunistic TLS
// whose handshake failed).
type dialError struct {
	reply      reply
	retryPlain bool
	requireTLS bool // the failure is one of REQUIRETLS's conditions
}

func (e *dialError) Error() string { return e.reply.String() }

// dial connects to addr and prepares a session: greeting, EHLO, STARTTLS
// when offered (and plain is false), certificate checks by v, and EHLO
// again through go-smtp's client, which carries the transactions.
//
// The part before TLS is done here because go-smtp's client can only
// start TLS with the EHLO name "localhost"; go-smtp then takes over the
// (possibly encrypted) connection, reading a stand-in greeting.
func (q *Queue) dial(ctx context.Context, addr netip.AddrPort, v *verifier, plain bool) (*session, error) {
	mta := v.host
	if mta == "" {
		mta = addr.Addr().String()
	}
	dctx, cancel := context.WithTimeout(ctx, q.cfg.ConnectTimeout)
	conn, err := q.cfg.Dial(dctx, "tcp", addr.String())
	cancel()
	if err != nil {
		return nil, &dialError{reply: replyConnect(mta, err)}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	s, derr := q.handshake(ctx, conn, addr, mta, v, plain)
	if derr != nil {
		conn.Close()
		if ctx.Err() != nil {
			derr.reply = replyConnLost(mta, ctx.Err())
		}
		return nil, derr
	}
	return s, nil
}

func (q *Queue) handshake(ctx context.Context, conn net.Conn, addr netip.AddrPort, mta string, v *verifier, plain bool) (*session, *dialError) {
	conn.SetDeadline(time.Now().Add(q.cfg.CommandTimeout))
	br := bufio.NewReader(io.LimitReader(conn, maxPlainPhase))
	tp := textproto.NewReader(br)
	if _, _, err := tp.ReadResponse(220); err != nil {
		// RFC 5321 §3.1: a 554 greeting means no service; try elsewhere.
		return nil, &dialError{reply: plainReply(mta, err)}
	}
	exts, err := plainCommand(conn, tp, 250, "EHLO "+q.cfg.Hostname)
	if err != nil {
		// An old server without EHLO has no STARTTLS either; go-smtp falls
		// back to HELO itself below.
		exts = ""
	}
	required, why := v.policy.mandatory()
	var netConn net.Conn = conn
	switch {
	case hasExtension(exts, "STARTTLS") && !plain:
		if _, err := plainCommand(conn, tp, 220, "STARTTLS"); err != nil {
			if required {
				return nil, &dialError{reply: plainReply(mta, err), requireTLS: v.policy.requireTLS}
			}
			break // go on in the clear: the server refused TLS itself
		}
		if br.Buffered() > 0 {
			// Data sent before the TLS handshake would be read as if it
			// came through TLS (the STARTTLS injection attack).
			return nil, &dialError{reply: replyConnLost(mta, errors.New("data after the STARTTLS reply"))}
		}
		tc := tls.Client(conn, v.config())
		if err := tc.HandshakeContext(ctx); err != nil {
			if v.err != nil {
				err = v.err
			}
			return nil, &dialError{reply: replyTLS(mta, err), retryPlain: !required, requireTLS: v.policy.requireTLS}
		}
		netConn = tc
	case required:
		r := replyTLSNeeded(mta, why)
		if v.policy.requireTLS {
			r = replyRequireTLS(mta + " does not offer STARTTLS")
		}
		return nil, &dialError{reply: r, requireTLS: v.policy.requireTLS}
	default:
		if br.Buffered() > 0 {
			return nil, &dialError{reply: replyConnLost(mta, errors.New("unexpected data after the EHLO reply"))}
		}
	}
	conn.SetDeadline(time.Time{})

	c := smtp.NewClient(&clientConn{Conn: netConn, greeting: "220 " + mta + "\r\n", writeTimeout: q.cfg.DataTimeout})
	c.CommandTimeout = q.cfg.CommandTimeout
	c.SubmissionTimeout = q.cfg.DataTimeout
	if err := c.Hello(q.cfg.Hostname); err != nil {
		c.Close()
		return nil, &dialError{reply: remoteReply(mta, err)}
	}
	return &session{key: sessionKey(addr, v.host), mta: mta, conn: conn, c: c, tls: v.state}, nil
}

// plainCommand sends one command before TLS and reads its reply.
func plainCommand(conn net.Conn, tp *textproto.Reader, expect int, cmd string) (string, error) {
	if _, err := io.WriteString(conn, cmd+"\r\n"); err != nil {
		return "", err
	}
	_, msg, err := tp.ReadResponse(expect)
	return msg, err
}

// plainReply turns an error of the phase before go-smtp into a reply.
func plainReply(mta string, err error) reply {
	var te *textproto.Error
	if errors.As(err, &te) {
		return remoteReply(mta, &smtp.SMTPError{Code: te.Code, Message: te.Msg})
	}
	return replyConnLost(mta, err)
}

// hasExtension reports whether an EHLO reply (lines after the first)
// announces ext (RFC 5321 §4.1.1.1).
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[min(1, len(lines)):] {
		if f := strings.Fields(l); len(f) > 0 && strings.EqualFold(f[0], ext) {
			return true
		}
	}
	return false
}

// clientConn is the connection go-smtp's client sees: it first reads a
// stand-in greeting (the real one was read before STARTTLS), and every
// write has a deadline, which go-smtp sets only around commands and not
// while the message data is written.
type clientConn struct {
	net.Conn
	greeting     string
	writeTimeout time.Duration
}

func (c *clientConn) Read(p []byte) (int, error) {
	if c.greeting != "" {
		n := copy(p, c.greeting)
		c.greeting = c.greeting[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *clientConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	return c.Conn.Write(p)
}

// close ends the session politely: QUIT, with a short deadline, then close.
func (s *session) close() {
	s.conn.SetDeadline(time.Now().Add(quitTimeout))
	if s.c.Quit() != nil {
		s.c.Close()
	}
}

// pool keeps idle sessions for the next message to the same host.
type pool struct {
	max     int
	timeout time.Duration

	mu     sync.Mutex
	idle   map[string][]*session
	closes sync.WaitGroup
}

func newPool(max int, timeout time.Duration) *pool {
	return &pool{max: max, timeout: timeout, idle: map[string][]*session{}}
}

// get takes the most recently used idle session for key, if any fresh.
func (p *pool) get(key string) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[key]
	for len(list) > 0 {
		s := list[len(list)-1]
		list = list[:len(list)-1]
		if time.Since(s.idleSince) < p.timeout {
			p.set(key, list)
			s.reused = true
			return s
		}
		p.closeLater(s)
	}
	p.set(key, list)
	return nil
}

// put returns a session after a transaction; it is closed when the host
// has enough idle ones.
func (p *pool) put(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle[s.key]) >= p.max {
		p.closeLater(s)
		return
	}
	s.idleSince = time.Now()
	p.idle[s.key] = append(p.idle[s.key], s)
}

// discard closes a session taken from the pool that will not be used.
func (p *pool) discard(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLater(s)
}

// prune closes the sessions idle for longer than the timeout.
func (p *pool) prune() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, list := range p.idle {
		var keep []*session
		for _, s := range list {
			if time.Since(s.idleSince) < p.timeout {
				keep = append(keep, s)
			} else {
				p.closeLater(s)
			}
		}
		p.set(key, keep)
	}
}

// closeAll closes every idle session and waits for all closes to end.
func (p *pool) closeAll() {
	p.mu.Lock()
	for key, list := range p.idle {
		for _, s := range list {
			p.closeLater(s)
		}
		delete(p.idle, key)
	}
	p.mu.Unlock()
	p.closes.Wait()
}

// closeLater closes s in the background (QUIT may wait for the server);
// p.mu is held.
func (p *pool) closeLater(s *session) {
	p.closes.Add(1)
	go func() {
		defer p.closes.Done()
		s.close()
	}()
}

// set stores list for key, dropping empty lists; p.mu is held.
func (p *pool) set(key string, list []*session) {
	if len(list) == 0 {
		delete(p.idle, key)
	} else {
		p.idle[key] = list
	}
}

// String describes the session for logs.
func (s *session) String() string {
	return fmt.Sprintf("%s (%s, tls=%v)", s.mta, s.key, s.tls.on)
}
