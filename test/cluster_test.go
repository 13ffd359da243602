package test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/testutil/pgtest"
)

// Several Postel nodes on one PostgreSQL database ([store] driver =
// "postgres"): each node is a postel serve process with its own data dir
// (spools, certificates, keys) and the same DSN, as an operator runs them
// behind DNS or a load balancer.

// newNode is an instance on the PostgreSQL database dsn.
func newNode(t testing.TB, dsn, extra string) *instance {
	return newInstance(t, fmt.Sprintf("[store]\ndriver = \"postgres\"\ndsn = %q\n", dsn)+extra)
}

// newNodes are two instances on a new database of the shared PostgreSQL,
// its domain and alice made through node A; extra is appended to both
// configs.
func newNodes(t *testing.T, extra string) (a, b *instance) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	a, b = newNode(t, dsn, extra), newNode(t, dsn, extra)
	a.setup()
	return a, b
}

// idleWatch is an IMAP client on a node, IDLE in INBOX, that reports each
// EXISTS, FETCH FLAGS and EXPUNGE the server sends.
type idleWatch struct {
	*imapclient.Client
	exists   chan uint32
	flags    chan []imap.Flag
	expunged chan uint32 // sequence numbers
}

func watchInbox(t *testing.T, in *instance) *idleWatch {
	t.Helper()
	w := &idleWatch{exists: make(chan uint32, 100), flags: make(chan []imap.Flag, 100), expunged: make(chan uint32, 100)}
	c, err := imapclient.DialTLS(in.ports["imaps"], &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					w.exists <- *d.NumMessages
				}
			},
			Fetch: func(msg *imapclient.FetchMessageData) {
				if buf, err := msg.Collect(); err == nil && buf.Flags != nil {
					w.flags <- buf.Flags
				}
			},
			Expunge: func(seq uint32) { w.expunged <- seq },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice@example.org", alicePassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Idle(); err != nil {
		t.Fatal(err)
	}
	w.Client = c
	return w
}

// TestClusterIdleAcrossNodes: a message delivered through node A reaches
// an IMAP IDLE session on node B (LISTEN/NOTIFY, then the durable feed).
func TestClusterIdleAcrossNodes(t *testing.T) {
	a, b := newNodes(t, "")
	a.start()
	b.start()
	w := watchInbox(t, b)
	for i, subject := range []string{"first", "second", "third"} {
		start := time.Now()
		a.deliverSMTP(t, subject)
		select {
		case n := <-w.exists:
			t.Logf("EXISTS %d on node B %v after node A's 250", n, time.Since(start).Round(time.Millisecond))
			if n != uint32(i+1) {
				t.Fatalf("EXISTS %d, want %d", n, i+1)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("node B's IDLE saw no EXISTS for message %d", i+1)
		}
	}
}

// TestClusterConcurrentAppend: APPENDs through both nodes at once into one
// mailbox get unique UIDs, ascending in the order of their commits.
func TestClusterConcurrentAppend(t *testing.T) {
	a, b := newNodes(t, "")
	a.start()
	b.start()
	const perClient = 15
	var mu sync.Mutex
	var uids []imap.UID
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, node := range []*instance{a, b, a, b} {
		c := node.aliceIMAP(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				msg := fmt.Sprintf("Subject: append %d via %s\r\n\r\nbody\r\n", i, node.ports["imaps"])
				cmd := c.Append("INBOX", int64(len(msg)), nil)
				cmd.Write([]byte(msg))
				cmd.Close()
				data, err := cmd.Wait()
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				uids = append(uids, data.UID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("APPEND: %v", err)
	}
	slices.Sort(uids)
	if len(slices.Compact(slices.Clone(uids))) != 4*perClient {
		t.Fatalf("APPENDUIDs not unique: %v", uids)
	}
	// Every node lists the same messages, in ascending UID order.
	for _, node := range []*instance{a, b} {
		c := node.aliceIMAP(t)
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(mustRange(1, 4*perClient), &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []imap.UID
		for _, m := range msgs {
			got = append(got, m.UID)
		}
		if !slices.Equal(got, uids) {
			t.Fatalf("node %s lists UIDs %v, want %v", node.ports["imaps"], got, uids)
		}
	}
}

func mustRange(lo, hi uint32) imap.SeqSet {
	var s imap.SeqSet
	s.AddRange(lo, hi)
	return s
}

// TestClusterQueueOnce: one queue for both nodes: what is submitted
// through either is sent once, by one of them.
func TestClusterQueueOnce(t *testing.T) {
	mx := newFakeMX(t)
	cfg := mx.config(t, "poll_interval = \"1s\"\n")
	a, b := newNodes(t, cfg)
	a.start()
	b.start()
	const n = 20
	for i := range n {
		node := a
		if i%2 == 1 {
			node = b
		}
		node.submit(t, fmt.Sprintf("msg-%d", i))
	}
	deadline := time.After(2 * time.Minute)
	for range n {
		select {
		case <-mx.got:
		case <-deadline:
			t.Fatalf("delivered %v of %d", mx.subjects(), n)
		}
	}
	// Both nodes poll every second: give them a few more rounds to send
	// anything twice.
	for range 3 {
		a.admin("", "queue", "kick")
		b.admin("", "queue", "kick")
		time.Sleep(time.Second)
	}
	got := mx.subjects()
	for i := range n {
		if c := got[fmt.Sprintf("msg-%d", i)]; c != 1 {
			t.Errorf("msg-%d sent %d times", i, c)
		}
	}
	if len(got) != n {
		t.Errorf("the MX got %v", got)
	}
	if out := a.admin("", "queue", "list"); strings.TrimSpace(out) != "" && !strings.Contains(out, "empty") {
		t.Errorf("queue not empty: %s", out)
	}
}

// TestClusterNodeKilled: node A dies (SIGKILL) while it sends a message;
// node B takes the entry once A's lease has run out and sends it.
func TestClusterNodeKilled(t *testing.T) {
	mx := newFakeMX(t)
	cfg := mx.config(t, "poll_interval = \"1s\"\nlease = \"5s\"\n")
	a, b := newNodes(t, cfg)
	a.start()
	// The MX has the whole message and never answers: node A dies
	// waiting.
	mx.holdData(holdAfterDot)
	a.submit(t, "orphaned")
	select {
	case <-mx.atDot:
	case <-time.After(time.Minute):
		t.Fatal("node A never sent the message")
	}
	mx.holdData(holdNone)
	b.start()
	a.stop(syscall.SIGKILL)
	mx.release(false)
	start := time.Now()
	select {
	case <-mx.got:
		t.Logf("node B sent it %v after node A died", time.Since(start).Round(time.Millisecond))
	case <-time.After(time.Minute):
		t.Fatalf("node B never sent the message; its log:\n%s", b.stderr.String())
	}
	if got := mx.subjects(); got["orphaned"] != 1 {
		t.Fatalf("the MX got %v", got)
	}
}

// readyz is the status of a node's /readyz.
func readyz(t *testing.T, in *instance) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(obsAdminURL(t, in) + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// trySMTP delivers one message to alice through a node's MX and returns
// the reply to its DATA (or to the first command refused), "" when the
// connection failed.
func trySMTP(addr, subject string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	read := func() string {
		var last string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return ""
			}
			last = strings.TrimRight(l, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	if r := read(); !strings.HasPrefix(r, "220") {
		return r
	}
	for _, cmd := range []string{"EHLO client.example", "MAIL FROM:<x@remote.example>", "RCPT TO:<alice@example.org>", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		if r := read(); !strings.HasPrefix(r, "2") && !strings.HasPrefix(r, "3") {
			return r
		}
	}
	fmt.Fprintf(c, "From: x@remote.example\r\nTo: alice@example.org\r\nSubject: %s\r\n\r\nload\r\n.\r\n", subject)
	r := read()
	fmt.Fprintf(c, "QUIT\r\n")
	return r
}

// TestClusterDatabaseDown: PostgreSQL stops for ten seconds while both
// nodes take mail. Meanwhile they answer with temporary failures (451)
// and /readyz says they are not ready; once it is back they serve again
// by themselves, and every message acknowledged with 250, before, during
// or after, is in the mailbox, once.
func TestClusterDatabaseDown(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	a, b := newNode(t, dsn, ""), newNode(t, dsn, "")
	a.setup()
	a.start()
	b.start()

	var mu sync.Mutex
	acked := map[string]bool{}
	replies := map[string]int{} // reply class -> count
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, node := range []*instance{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				subject := fmt.Sprintf("load-%d-%d", w, i)
				r := trySMTP(node.ports["smtp"], subject)
				mu.Lock()
				if strings.HasPrefix(r, "250") {
					acked[subject] = true
				}
				if len(r) >= 3 {
					replies[r[:3]]++
				} else {
					replies["no reply"]++
				}
				mu.Unlock()
				if !strings.HasPrefix(r, "250") {
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	ackedNow := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	obsWait(t, "mail accepted before the outage", func() bool { return ackedNow() >= 20 })

	pg.Stop(t)
	down := time.Now()
	obsWait(t, "node A not ready", func() bool { return readyz(t, a) == http.StatusServiceUnavailable })
	obsWait(t, "node B not ready", func() bool { return readyz(t, b) == http.StatusServiceUnavailable })
	if d := 10*time.Second - time.Since(down); d > 0 {
		time.Sleep(d) // the outage lasts ten seconds: a duration under test, not a wait for an event
	}
	before := ackedNow()
	pg.StartAgain(t)
	back := time.Now()
	obsWait(t, "node A ready again", func() bool { return readyz(t, a) == http.StatusOK })
	obsWait(t, "node B ready again", func() bool { return readyz(t, b) == http.StatusOK })
	obsWait(t, "mail accepted after the outage", func() bool { return ackedNow() >= before+20 })
	t.Logf("both nodes serve again %v after PostgreSQL came back", time.Since(back).Round(time.Millisecond))
	close(stop)
	wg.Wait()
	mu.Lock()
	t.Logf("replies: %v; %d acknowledged", replies, len(acked))
	if replies["451"] == 0 {
		t.Errorf("no 451 during the outage: %v", replies)
	}
	for r := range replies {
		if strings.HasPrefix(r, "5") {
			t.Errorf("a permanent failure during the outage: %v", replies)
		}
	}
	mu.Unlock()

	// Every acknowledged message is there, once, seen from either node.
	c := b.aliceIMAP(t)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.Envelope.Subject]++
	}
	for s := range acked {
		if seen[s] != 1 {
			t.Errorf("%s acknowledged, in the mailbox %d times", s, seen[s])
		}
	}
}

// pop3Login logs alice in over POP3S and returns the connection and the
// reply to PASS.
func pop3Login(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c := dial(t, addr, true, 30*time.Second)
	br := bufio.NewReader(c)
	line := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("POP3: %v", err)
		}
		return strings.TrimRight(l, "\r\n")
	}
	line() // greeting
	fmt.Fprintf(c, "USER alice@example.org\r\n")
	line()
	fmt.Fprintf(c, "PASS %s\r\n", alicePassword)
	return c, br, line()
}

// TestClusterPOP3Maildrop: one POP3 session at a time holds a maildrop,
// whichever node it is on; it is free for any node once the session ends.
func TestClusterPOP3Maildrop(t *testing.T) {
	a, b := newNodes(t, "")
	a.start()
	b.start()
	ca, _, r := pop3Login(t, a.ports["pop3s"])
	if !strings.HasPrefix(r, "+OK") {
		t.Fatalf("login on node A: %q", r)
	}
	if _, _, r := pop3Login(t, b.ports["pop3s"]); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("login on node B while A's session holds the maildrop: %q", r)
	}
	fmt.Fprintf(ca, "QUIT\r\n")
	ca.Close()
	// The release follows the session's end on node A: wait for it.
	obsWait(t, "the maildrop free on node B", func() bool {
		_, _, r := pop3Login(t, b.ports["pop3s"])
		return strings.HasPrefix(r, "+OK")
	})
}
