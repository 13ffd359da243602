package test

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"postel/internal/dns/dnstest"
)

// The remote end of the queue's tests: a fake MX for remote.example, and the
// config that points a node's queue at an SMTP server on loopback through a
// test DNS server.

// fakeMX is the MX of remote.example: a minimal SMTP server on loopback,
// without extensions, that answers RCPT TO and DATA as it is told and
// reports every step on a channel. The messages it takes are kept as they
// came, CRLF line ends and all, dot-unstuffed (RFC 5321 §4.5.2).
//
// Each event channel is buffered for mxEvents events, sent in the order
// they happen; a test reads those it waits for and leaves the rest. An
// event not read stays: to wait for a later transaction's, read the
// earlier ones' first.
type fakeMX struct {
	addr string // 127.0.0.1:port

	deferred chan struct{} // a RCPT TO answered 4xx
	atData   chan struct{} // a DATA command arrived (before any hold and the 354)
	atDot    chan struct{} // the final dot arrived (before any hold and the reply)
	got      chan string   // a message taken: recorded, then answered 250

	mu    sync.Mutex
	rcpt  string   // the reply to RCPT TO
	hold  mxHold   // where DATA stops until release
	gate  *mxGate  // what the transactions held now wait on
	msgs  []string // the messages taken, in order
	ended []bool   // per connection accepted, in order: has it ended?
}

const mxEvents = 1000

// mxHold is where the fake MX stops a DATA transaction until release.
type mxHold int

const (
	holdNone      mxHold = iota
	holdBefore354        // at the DATA command, before the 354
	holdAfterDot         // after the final dot, before the reply
)

// mxGate is what the transactions held wait on; answer, set before open
// is closed, says whether they go on or are dropped unanswered.
type mxGate struct {
	open   chan struct{}
	answer bool
}

func newFakeMX(t *testing.T) *fakeMX {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMX{
		addr:     l.Addr().String(),
		deferred: make(chan struct{}, mxEvents),
		atData:   make(chan struct{}, mxEvents),
		atDot:    make(chan struct{}, mxEvents),
		got:      make(chan string, mxEvents),
		rcpt:     "250 2.1.5 ok",
		gate:     &mxGate{open: make(chan struct{})},
	}
	// Made before the nodes that send to it, it is closed after them.
	t.Cleanup(func() {
		l.Close()
		m.release(false)
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			m.mu.Lock()
			i := len(m.ended)
			m.ended = append(m.ended, false)
			m.mu.Unlock()
			go m.serve(c, i)
		}
	}()
	return m
}

// config points a node's queue at the MX through a new test DNS server
// (queueTo); queue holds more lines of the [queue] table.
func (m *fakeMX) config(t *testing.T, queue string) string {
	return queueTo(dnstest.New(t), "remote.example", m.addr, queue)
}

// answerRcpt sets the reply to RCPT TO from now on.
func (m *fakeMX) answerRcpt(reply string) {
	m.mu.Lock()
	m.rcpt = reply
	m.mu.Unlock()
}

// holdData makes DATA transactions from now on stop at a point until
// release; holdNone lets them through (the ones held already stay held).
func (m *fakeMX) holdData(at mxHold) {
	m.mu.Lock()
	m.hold = at
	m.mu.Unlock()
}

// release ends every hold: the transactions held go on as if never
// stopped (answer), or their connections are closed unanswered, as a remote
// that died leaves them. No transaction is held from then on until
// holdData says so again.
func (m *fakeMX) release(answer bool) {
	m.mu.Lock()
	g := m.gate
	g.answer = answer
	m.gate = &mxGate{open: make(chan struct{})}
	m.hold = holdNone
	m.mu.Unlock()
	close(g.open)
}

// reach says on event that a transaction reached point at, then holds it
// there if the MX is told to, and reports whether it goes on. Whether it
// is held is settled before event is sent: a test that changes holdData
// once it has the event does not change this transaction's fate.
func (m *fakeMX) reach(at mxHold, event chan struct{}) bool {
	m.mu.Lock()
	g, held := m.gate, m.hold == at
	m.mu.Unlock()
	event <- struct{}{}
	if !held {
		return true
	}
	<-g.open
	return g.answer
}

func (m *fakeMX) serve(c net.Conn, i int) {
	defer func() {
		c.Close()
		m.mu.Lock()
		m.ended[i] = true
		m.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 mx.remote.example ESMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
		switch verb {
		case "EHLO", "HELO":
			say("250 mx.remote.example")
		case "RCPT":
			m.mu.Lock()
			reply := m.rcpt
			m.mu.Unlock()
			say(reply)
			if strings.HasPrefix(reply, "4") {
				m.deferred <- struct{}{}
			}
		case "DATA":
			if !m.reach(holdBefore354, m.atData) {
				return // dropped unanswered
			}
			say("354 go ahead")
			msg, ok := readData(br)
			if !ok {
				return // the sender died: nothing taken
			}
			if !m.reach(holdAfterDot, m.atDot) {
				return // dropped unanswered: nothing taken
			}
			m.mu.Lock()
			m.msgs = append(m.msgs, msg)
			m.mu.Unlock()
			say("250 2.0.0 accepted")
			m.got <- msg
		case "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// readData reads the data of a message up to the line of a lone dot (RFC
// 5321 §4.1.1.4) and undoes the dot-stuffing (§4.5.2): a dot that begins a
// line (after CRLF, not after a bare LF) is taken away. ok is false when
// the connection ended first.
func readData(br *bufio.Reader) (msg string, ok bool) {
	var b strings.Builder
	lineStart := true
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", false
		}
		if lineStart {
			if l == ".\r\n" {
				return b.String(), true
			}
			l = strings.TrimPrefix(l, ".")
		}
		lineStart = strings.HasSuffix(l, "\r\n")
		b.WriteString(l)
	}
}

// messages are the messages taken so far, in order.
func (m *fakeMX) messages() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.msgs)
}

// subjects counts the messages taken so far by their Subject.
func (m *fakeMX) subjects() map[string]int {
	out := map[string]int{}
	for _, msg := range m.messages() {
		subject := ""
		if v := headerValues(msg, "Subject"); len(v) > 0 {
			subject = v[0]
		}
		out[subject]++
	}
	return out
}

// accepted is the number of connections accepted so far.
func (m *fakeMX) accepted() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ended)
}

// endedFirst reports whether the first n connections accepted have ended.
func (m *fakeMX) endedFirst(n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !slices.Contains(m.ended[:n], false)
}

// queueTo is the config that sends a node's mail for domain to the SMTP
// server at addr on loopback: zone, which the node asks, gets the MX
// record of domain (mx.DOMAIN) and its A record (addr's host); the queue
// connects to addr's port, private as the address is. queue holds more
// lines of the [queue] table (poll_interval, retry_base, lease ...).
func queueTo(zone *dnstest.Server, domain, addr, queue string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	zone.Add(fmt.Sprintf("%s. 300 IN MX 10 mx.%s.", domain, domain), fmt.Sprintf("mx.%s. 300 IN A %s", domain, host))
	return fmt.Sprintf("[dns]\nservers = [%q]\n[queue]\nallow_private_destinations = true\nport = %s\n%s", zone.Addr, port, queue)
}

// TestFakeMX: the fake MX itself, in process. It records a message as it
// was sent, the dot-stuffing of smtpConn.data undone: lines of dots, a
// dot after a bare LF (not a line's start), the last line ended. Held
// after the dot and released unanswered, a transaction is dropped and
// nothing recorded; held before the 354 and released, it goes on.
func TestFakeMX(t *testing.T) {
	mx := newFakeMX(t)
	open := func() *smtpConn {
		s := dialSMTP(t, mx.addr, false)
		s.cmd("EHLO client.example", "250")
		s.cmd("MAIL FROM:<alice@example.org>", "250")
		s.cmd("RCPT TO:<bob@remote.example>", "250")
		return s
	}
	msg := ".first\r\nSubject: dots\r\n\r\n.\r\n..two\r\nbare\n.after LF\r\n.\r\nlast"
	open().data(msg, "250")
	if got := <-mx.got; got != msg+"\r\n" {
		t.Fatalf("recorded %q, sent %q", got, msg)
	}
	// The first transaction's events: the waits below are for the next.
	<-mx.atData
	<-mx.atDot

	mx.holdData(holdAfterDot)
	s := open()
	s.cmd("DATA", "354")
	s.send("Subject: dropped\r\n\r\nx\r\n.\r\n")
	<-mx.atDot
	mx.release(false)
	if l, err := s.r.ReadString('\n'); err == nil {
		t.Fatalf("a dropped transaction was answered %q", l)
	}

	mx.holdData(holdBefore354)
	s = open()
	s.send("DATA\r\n")
	<-mx.atData
	mx.release(true)
	s.expect("354")
	s.send("Subject: held\r\n\r\nx\r\n.\r\n")
	s.expect("250")
	if got := mx.subjects(); len(got) != 2 || got["dots"] != 1 || got["held"] != 1 {
		t.Fatalf("subjects %v", got)
	}
}
