package imapserver

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"postel/internal/message"
	"postel/internal/store"
	"postel/internal/testutil/pgtest"
)

// The benchmarks run only with -bench. The 100,000-message mailbox is
// built once per benchmark binary run: 1,000 distinct bodies, each
// delivered to 100 targets in INBOX (so 100 messages share a body file),
// by store.DeliverAll batches of 1,000 messages.

const bigMailbox = 100_000

// benchWords makes the bodies differ: body i holds word i, so a SEARCH
// TEXT for one word matches the 100 messages of that body.
func benchBody(i int) string {
	return fmt.Sprintf("From: sender%d@example.org\r\nTo: alice@example.org\r\nSubject: message number %d\r\n"+
		"Date: Mon, 04 Mar 2024 08:00:00 +0000\r\n\r\nBody of message %d with the word zq%05dxy in it.\r\n%s",
		i, i, i, i, strings.Repeat("Some filler text for a typical short message.\r\n", 20))
}

// fill delivers n messages into acct's mailbox, sharing bodies by 100.
func fill(b *testing.B, h *harness, acct store.Account, mailbox string, n int) {
	ctx := context.Background()
	const perBody = 100
	var batch []*store.Delivery
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := h.st.DeliverAll(ctx, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	for i := 0; i < n/perBody; i++ {
		body := benchBody(i)
		sp, err := h.st.NewSpool()
		if err != nil {
			b.Fatal(err)
		}
		io.WriteString(sp, body)
		if err := sp.Finish(); err != nil {
			b.Fatal(err)
		}
		p, err := message.Parse(strings.NewReader(body), int64(len(body)), message.DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		meta, _ := p.Meta()
		meta.HeadersText, meta.BodyText, _ = message.ExtractText(strings.NewReader(body), p.Root, 1<<20)
		d := &store.Delivery{Spool: sp, Meta: meta}
		for k := 0; k < perBody; k++ {
			flags := []string(nil)
			if k%3 == 0 {
				flags = []string{store.FlagSeen}
			}
			d.Targets = append(d.Targets, store.Target{AccountID: acct.ID, Mailbox: mailbox, Flags: flags})
		}
		batch = append(batch, d)
		if len(batch)*perBody >= 1000 {
			flush()
		}
	}
	flush()
}

var (
	bigOnce    sync.Once
	bigHarness *harness
)

// bigSetup returns a harness whose alice has 100,000 messages in INBOX.
// It lives until the benchmark binary exits.
func bigSetup(b *testing.B) *harness {
	bigOnce.Do(func() {
		bigHarness = newHarness(&benchTB{B: b}, func(c *Config) { c.Limits.MaxConnsPerIP = 2000; c.Limits.MaxConns = 2000 })
		fill(b, bigHarness, bigHarness.alice, "INBOX", bigMailbox)
	})
	return bigHarness
}

// benchTB keeps a harness beyond the benchmark that made it: its cleanups
// never run (the process ends after the benchmarks).
type benchTB struct{ *testing.B }

func (benchTB) Cleanup(func()) {}

func (b benchTB) TempDir() string {
	dir, err := os.MkdirTemp("", "postel-imap-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	return dir
}

// benchDirs are removed by TestMain when the benchmarks are done.
var benchDirs []string

func TestMain(m *testing.M) {
	code := pgtest.RunMain(m) // the shared PostgreSQL of the tests on several nodes
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

func BenchmarkSelect100k(b *testing.B) {
	h := bigSetup(b)
	r := benchLogin(b, h)
	b.ResetTimer()
	for range b.N {
		r.send("s SELECT INBOX")
		r.until("s ")
	}
}

func BenchmarkUIDFetchFlags100k(b *testing.B) {
	h := bigSetup(b)
	r := benchLogin(b, h)
	r.send("s SELECT INBOX")
	r.until("s ")
	b.ResetTimer()
	for range b.N {
		r.send("f UID FETCH 1:* (FLAGS)")
		if n := len(r.until("f ")); n != bigMailbox+1 {
			b.Fatalf("%d lines", n)
		}
	}
}

func BenchmarkSearchText100k(b *testing.B) {
	h := bigSetup(b)
	r := benchLogin(b, h)
	r.send("s SELECT INBOX")
	r.until("s ")
	b.ResetTimer()
	for i := range b.N {
		r.send(fmt.Sprintf("q SEARCH TEXT zq%05dxy", i%(bigMailbox/100)))
		got := r.until("q ")
		if len(got) != 2 || len(strings.Fields(got[0])) != 2+100 {
			b.Fatalf("SEARCH: %.100q", got)
		}
	}
}

// BenchmarkStoreFlag measures one STORE of a flag on one message, round
// trip: what a client's "mark as read" costs. Beside it,
// BenchmarkWaitProgress gives what INPROGRESS adds to each STORE, COPY and
// MOVE (a goroutine and a timer while the store works).
func BenchmarkStoreFlag(b *testing.B) {
	h := newHarness(b)
	h.put(h.alice, "INBOX", "Subject: m\r\n\r\nbody\r\n")
	r := benchLogin(b, h)
	r.send("s SELECT INBOX")
	r.until("s ")
	ops := [2]string{"t STORE 1 +FLAGS.SILENT (\\Seen)", "t STORE 1 -FLAGS.SILENT (\\Seen)"}
	b.ResetTimer()
	for i := range b.N {
		r.send(ops[i%2])
		if got := r.until("t "); !strings.HasPrefix(got[len(got)-1], "t OK") {
			b.Fatalf("STORE: %q", got)
		}
	}
}

// BenchmarkNoopSelected measures a NOOP round trip with a mailbox
// selected: the session's own (own) and one shared with it (shared),
// where a command reads the rights and the owner's account again only
// when the owner's feed told of a change (checkSelected, RFC 4314 §4: a
// revoked right counts from the next command).
func BenchmarkNoopSelected(b *testing.B) {
	h := newHarness(b)
	alice := h.loginAs("alice@example.org", alicePass)
	alice.send("c CREATE Shared")
	alice.until("c ")
	h.put(h.alice, "Shared", "Subject: m\r\n\r\nbody\r\n")
	alice.send("a SETACL Shared bob@example.org lrs")
	alice.until("a ")
	for _, c := range []struct{ name, who, pass, mailbox string }{
		{"own", "alice@example.org", alicePass, "Shared"},
		{"shared", "bob@example.org", bobPass, `"Other Users/alice@example.org/Shared"`},
	} {
		b.Run(c.name, func(b *testing.B) {
			r := h.loginAs(c.who, c.pass)
			r.send("s SELECT " + c.mailbox)
			if got := r.until("s "); !strings.HasPrefix(got[len(got)-1], "s OK") {
				b.Fatalf("SELECT: %q", got)
			}
			b.ResetTimer()
			for range b.N {
				r.send("n NOOP")
				r.until("n ")
			}
		})
	}
}

// BenchmarkListShared measures LIST "" "*" of an account that 50
// mailboxes of another, of 20 messages each, are shared with.
func BenchmarkListShared(b *testing.B) {
	h := newHarness(b)
	alice := h.loginAs("alice@example.org", alicePass)
	for i := range 50 {
		name := fmt.Sprintf("Team%02d", i)
		alice.send("c CREATE " + name)
		alice.until("c ")
		for range 20 {
			h.put(h.alice, name, "Subject: m\r\n\r\nbody\r\n")
		}
		alice.send("a SETACL " + name + " bob@example.org lr")
		alice.until("a ")
	}
	r := h.loginAs("bob@example.org", bobPass)
	b.ResetTimer()
	for range b.N {
		r.send(`l LIST "" "*"`)
		if got := r.until("l "); len(got) != 50+6+2+1 {
			b.Fatalf("LIST: %d lines: %q", len(got), got)
		}
	}
}

func BenchmarkWaitProgress(b *testing.B) {
	s := &session{}
	s.prog = &progress{s: s, timing: defaultProgress, next: time.Now().Add(time.Hour)}
	b.ReportAllocs()
	for range b.N {
		s.waitProgress(func() error { return nil })
	}
}

// BenchmarkFetchBody measures FETCH BODY[] throughput: 16 messages of
// 1 MiB each per operation.
func BenchmarkFetchBody(b *testing.B) {
	h := newHarness(b)
	big := "Subject: big\r\n\r\n" + strings.Repeat(strings.Repeat("x", 1022)+"\r\n", 1024)
	for range 16 {
		h.put(h.alice, "INBOX", big)
	}
	r := benchLogin(b, h)
	r.send("s SELECT INBOX")
	r.until("s ")
	buf := make([]byte, 64<<10)
	b.SetBytes(16 * int64(len(big)))
	b.ResetTimer()
	for range b.N {
		r.send("f FETCH 1:16 BODY.PEEK[]")
		for range 16 {
			l := r.line()
			var seq, size int
			if _, err := fmt.Sscanf(l, "* %d FETCH (BODY[] {%d}", &seq, &size); err != nil {
				b.Fatalf("%q: %v", l, err)
			}
			if _, err := io.CopyBuffer(io.Discard, io.LimitReader(r.br, int64(size)), buf); err != nil {
				b.Fatal(err)
			}
			r.line() // ")"
		}
		r.until("f ")
	}
}

// BenchmarkIdleConnections measures the memory 1,000 sessions hold while
// in IDLE on INBOX (heap and goroutine stacks, after a GC), as bytes per
// connection. The clients live in the same process; they hold a socket
// and a 512-byte read buffer each.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 1000
	h := newHarness(b, func(c *Config) { c.Limits.MaxConnsPerIP = 2 * n; c.Limits.MaxConns = 2 * n })
	h.put(h.alice, "INBOX", testMsg)
	sc, err := scram.SHA256.NewClient("alice@example.org", alicePass, "")
	if err != nil {
		b.Fatal(err)
	}
	// Warm up: the store's connections and caches are not per session.
	for range 50 {
		idleSession(b, h, sc).Close()
	}
	for range b.N {
		before := memInUse()
		conns := make([]net.Conn, 0, n)
		for range n {
			conns = append(conns, idleSession(b, h, sc))
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/n, "bytes/conn")
		for _, c := range conns {
			c.Close()
		}
	}
}

func memInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

// idleSession logs in with SCRAM-SHA-256 (whose client caches the salted
// password, so 1,000 logins stay cheap), selects INBOX and starts IDLE.
func idleSession(b *testing.B, h *harness, sc *scram.Client) net.Conn {
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 512)
	line := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		return strings.TrimSuffix(l, "\r\n")
	}
	line() // greeting
	conv := sc.NewConversation()
	msg, _ := conv.Step("")
	fmt.Fprintf(c, "a AUTHENTICATE SCRAM-SHA-256 %s\r\n", base64.StdEncoding.EncodeToString([]byte(msg)))
	for {
		l := line()
		if strings.HasPrefix(l, "a OK") {
			break
		}
		if !strings.HasPrefix(l, "+ ") {
			b.Fatalf("AUTHENTICATE: %q", l)
		}
		ch, _ := base64.StdEncoding.DecodeString(l[2:])
		resp, err := conv.Step(string(ch))
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(c, "%s\r\n", base64.StdEncoding.EncodeToString([]byte(resp)))
	}
	io.WriteString(c, "s SELECT INBOX\r\ni IDLE\r\n")
	for !strings.HasPrefix(line(), "+ idling") {
	}
	return c
}

// benchLogin logs alice in on the plain listener.
func benchLogin(b *testing.B, h *harness) *raw {
	r := h.dial(h.addr)
	r.br = bufio.NewReaderSize(r.c, 64<<10)
	r.send(`L LOGIN alice@example.org "` + alicePass + `"`)
	r.until("L ")
	return r
}
