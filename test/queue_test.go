package test

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"postel/internal/dns/dnstest"
)

// receiver is a minimal SMTP server standing for a remote MX: it counts
// the messages it accepted, and stalls until stall is closed, either at the
// DATA command (before 354) or after the final dot (before 250).
type receiver struct {
	t         *testing.T
	l         net.Listener
	afterBody bool
	mu        sync.Mutex
	got       []string
	stall     chan struct{} // closed: stop stalling
	inDAT     chan struct{} // signalled when a DATA command arrives
	gotDot    chan struct{} // signalled when the final dot has arrived
	ended     []bool        // per connection accepted, in order: has it ended? Under mu.
}

func newReceiver(t *testing.T, afterBody bool) *receiver {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, l: l, afterBody: afterBody, stall: make(chan struct{}), inDAT: make(chan struct{}, 10), gotDot: make(chan struct{}, 10)}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			i := len(r.ended)
			r.ended = append(r.ended, false)
			r.mu.Unlock()
			go r.serve(c, i)
		}
	}()
	return r
}

func (r *receiver) serve(c net.Conn, i int) {
	defer func() {
		c.Close()
		r.mu.Lock()
		r.ended[i] = true
		r.mu.Unlock()
	}()
	c.SetDeadline(time.Now().Add(time.Minute))
	br := bufio.NewReader(c)
	say := func(s string) { fmt.Fprintf(c, "%s\r\n", s) }
	say("220 rx.remote.example ESMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 rx.remote.example")
		case strings.HasPrefix(cmd, "DATA"):
			r.inDAT <- struct{}{}
			if !r.afterBody {
				<-r.stall
			}
			say("354 go ahead")
			var msg strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return // the sender died: nothing delivered
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			r.gotDot <- struct{}{}
			if r.afterBody {
				<-r.stall
			}
			r.mu.Lock()
			r.got = append(r.got, msg.String())
			r.mu.Unlock()
			say("250 2.0.0 accepted")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// accepted is the number of connections accepted so far.
func (r *receiver) accepted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ended)
}

// endedFirst reports whether the first n connections accepted have ended.
func (r *receiver) endedFirst(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !slices.Contains(r.ended[:n], false)
}

func (r *receiver) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// TestQueueCrashDuringDelivery SIGKILLs the server during a delivery
// attempt and restarts it. Killed before the remote accepted the data, the
// message is delivered exactly once. Killed after the remote has the whole
// message but before its 250 reached us, it is delivered twice: delivery
// is at least once (RFC 5321 §6.1 leaves this window to every MTA; the
// remote's reply is the only proof of acceptance, and it never came).
func TestQueueCrashDuringDelivery(t *testing.T) {
	for _, c := range []struct {
		name      string
		afterBody bool
		want      int
	}{
		{"before the data", false, 1},
		{"after the final dot", true, 2},
	} {
		t.Run(c.name, func(t *testing.T) { queueCrash(t, c.afterBody, c.want) })
	}
}

func queueCrash(t *testing.T, afterBody bool, want int) {
	dns := dnstest.New(t)
	rx := newReceiver(t, afterBody)
	_, port, _ := net.SplitHostPort(rx.l.Addr().String())
	dns.Add("remote.example. 300 IN MX 10 mx.remote.example.", "mx.remote.example. 300 IN A 127.0.0.1")
	in := newInstance(t, fmt.Sprintf("[dns]\nservers = [%q]\n[queue]\nallow_private_destinations = true\nport = %s\nlease = \"2s\"\nretry_base = \"1s\"\npoll_interval = \"500ms\"\n", dns.Addr, port))
	in.setup()
	in.start()
	s := dialSMTP(t, in.ports["submission"], false)
	s.cmd("EHLO client.example", "250")
	s.cmd("STARTTLS", "220")
	s.upgradeTLS()
	s.cmd("EHLO client.example", "250")
	s.cmd("AUTH PLAIN "+plain("alice@example.org", alicePassword), "235")
	s.cmd("MAIL FROM:<alice@example.org>", "250")
	s.cmd("RCPT TO:<bob@remote.example>", "250")
	s.cmd("DATA", "354")
	s.cmd("From: alice@example.org\r\nTo: bob@remote.example\r\nSubject: survives a crash\r\n\r\nhello\r\n.", "250")
	// Killed when the remote is stalling: before its 354, or after it has
	// read the final dot (and before its 250).
	arrived := rx.inDAT
	if afterBody {
		arrived = rx.gotDot
	}
	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the queue never got that far in its delivery")
	}
	in.stop(syscall.SIGKILL)
	killed := rx.accepted() // the connections of the killed server
	close(rx.stall)
	in.start()
	// Done when the entry has left the queue (the new server's copy was
	// accepted, and no further attempt can start) and the killed server's
	// connections have ended (the remote took or dropped what they sent).
	deadline := time.Now().Add(30 * time.Second)
	for len(in.queue()) > 0 || !rx.endedFirst(killed) {
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: queue %+v, killed connections ended %v", in.queue(), rx.endedFirst(killed))
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := rx.messages()
	if len(got) != want {
		t.Fatalf("remote accepted %d copies, want %d", len(got), want)
	}
	for _, m := range got {
		if !strings.Contains(m, "Subject: survives a crash") || !strings.HasPrefix(m, "Received: ") || strings.Contains(m, "Return-Path:") {
			t.Fatalf("relayed message %q", m)
		}
	}
	if n := len(in.messages("INBOX")); n != 0 {
		t.Fatalf("alice got %d messages (a bounce?)", n)
	}
}
