package trace

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echo shows every line as it is, prefixed, and skips the octets a line
// ending in "{N}" announces.
type echo struct{}

func (echo) Client(line []byte) (string, int64) { return "c " + string(line), skipOf(line) }
func (echo) Server(line []byte) (string, int64) { return "s " + string(line), skipOf(line) }

func skipOf(line []byte) int64 {
	if i := bytes.LastIndexByte(line, '{'); i >= 0 && bytes.HasSuffix(line, []byte("}")) {
		n, _ := strconv.ParseInt(string(line[i+1:len(line)-1]), 10, 64)
		return n
	}
	return 0
}

func newEcho() Redactor { return echo{} }

// drain takes what a trace got so far.
func drain(s *Sub) []string {
	var out []string
	for {
		select {
		case e := <-s.Events():
			out = append(out, e.Dir+" "+e.Account+"|"+e.Text)
		default:
			return out
		}
	}
}

var (
	ipA = netip.MustParseAddr("192.0.2.1")
	ipB = netip.MustParseAddr("198.51.100.7")
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in      []string
		want    Filter
		wantErr string
	}{
		{[]string{"Alice@Example.org"}, Filter{Accounts: []string{"alice@example.org"}}, ""},
		{[]string{"192.0.2.1"}, Filter{Nets: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}}, ""},
		{[]string{"::ffff:192.0.2.1"}, Filter{Nets: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}}, ""},
		{[]string{"2001:db8::5/64", "bob@example.org"}, Filter{Accounts: []string{"bob@example.org"},
			Nets: []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}}, ""},
		{[]string{"mail.example.org"}, Filter{}, "not an address, an IP or a network"},
		{[]string{"10.0.0.0/33"}, Filter{}, "not an address, an IP or a network"},
		{[]string{""}, Filter{}, "empty target"},
	}
	for _, tc := range tests {
		got, err := ParseFilter(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseFilter(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFilter(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// TestLines: however the octets are cut into reads, the lines come out
// whole, the announced octets unseen, a long line cut in its middle with
// its end kept.
func TestLines(t *testing.T) {
	long := strings.Repeat("x", maxLine+1000) + " {3}"
	input := "a1 LOGIN {5}\r\nsecrt {3}\r\npw!\r\n" + long + "\r\nabc\r\nlast\r\n"
	want := []string{"C |c a1 LOGIN {5}", "C |c  {3}", "C |c ",
		"C |c " + strings.Repeat("x", maxLine) + "..." + long[len(long)-tailLen+1:], "C |c ", "C |c last"} // the CR took a place in the tail
	for _, size := range []int{1, 2, 7, 100, len(input)} {
		h := NewHub()
		sub := h.Subscribe(Filter{Nets: []netip.Prefix{netip.PrefixFrom(ipA, 32)}}, 100)
		s := h.Start("imap", "c1", ipA, newEcho)
		for i := 0; i < len(input); i += size {
			s.Client([]byte(input[i:min(i+size, len(input))]))
		}
		if got := drain(sub); !reflect.DeepEqual(got, want) {
			short := func(l []string) []string {
				var out []string
				for _, s := range l {
					if len(s) > 60 {
						s = s[:30] + fmt.Sprintf("...(%d)...", len(s)) + s[len(s)-20:]
					}
					out = append(out, s)
				}
				return out
			}
			t.Errorf("reads of %d: got\n%q\nwant\n%q", size, short(got), short(want))
		}
	}
}

// TestMatching: a trace gets the sessions its filter matches and no
// other; one that begins while a session runs joins it between commands
// with nothing buffered, never in the middle of the streams; a closed one
// gets nothing more.
func TestMatching(t *testing.T) {
	h := NewHub()
	a := h.Start("pop3", "a", ipA, newEcho)
	subA := h.Subscribe(Filter{Nets: []netip.Prefix{netip.PrefixFrom(ipA, 32)}}, 100)
	b := h.Start("pop3", "b", ipB, newEcho)
	a.Client([]byte("USER x\r\n")) // a started before the trace: not yet
	b.Client([]byte("USER y\r\n"))
	a.Sync(4) // input buffered: the stream is not at a command's start
	a.Client([]byte("mid-line\r\n"))
	a.Sync(0)
	a.Client([]byte("STAT\r\n"))
	a.Server([]byte("+OK 0 0\r\n"))
	a.Note("hello")
	if got, want := drain(subA), []string{"C |c STAT", "S |s +OK 0 0", "* |hello"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("trace of A: %q, want %q", got, want)
	}
	subA.Close()
	a.Sync(0)
	a.Client([]byte("QUIT\r\n"))
	if got := drain(subA); len(got) != 0 {
		t.Fatalf("closed trace got %q", got)
	}
	if a.on.Load() {
		t.Fatal("a session nobody traces still parses its streams")
	}
	// Restart with input left pauses until a Sync finds it drained.
	subB := h.Subscribe(Filter{Nets: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}, 100)
	b.Sync(0)
	b.Restart(12)
	b.Client([]byte("garbage\r\n"))
	b.Sync(0)
	b.Client([]byte("CAPA\r\n"))
	b.End()
	b.Client([]byte("after\r\n"))
	if got, want := drain(subB), []string{"C |c CAPA", "* |connection closed"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("trace of B: %q, want %q", got, want)
	}
}

// TestKeptUntilLogin: while a trace filters on an account, a session
// keeps its lines until it logs in; the trace then gets them, with the
// account, and what follows. A login as another account drops them.
func TestKeptUntilLogin(t *testing.T) {
	h := NewHub()
	sub := h.Subscribe(Filter{Accounts: []string{"alice@example.org"}}, 100)
	alice := h.Start("imap", "a", ipA, newEcho)
	bob := h.Start("imap", "b", ipB, newEcho)
	for _, s := range []*Session{alice, bob} {
		s.Server([]byte("* OK ready\r\n"))
		s.Client([]byte("a1 LOGIN ...\r\n"))
	}
	bob.Login("bob@example.org")
	bob.Server([]byte("a1 OK\r\n"))
	alice.Login("Alice@Example.org")
	alice.Server([]byte("a1 OK\r\n"))
	alice.Sync(0)
	alice.Client([]byte("a2 SELECT INBOX\r\n"))
	want := []string{"S alice@example.org|s * OK ready", "C alice@example.org|c a1 LOGIN ...",
		"S alice@example.org|s a1 OK", "C alice@example.org|c a2 SELECT INBOX"}
	if got := drain(sub); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if bob.on.Load() || len(bob.kept) != 0 {
		t.Fatal("bob's session still parsed or kept")
	}
	// Only the latest lines are kept.
	carol := h.Start("imap", "c", ipB, newEcho)
	for i := range maxKept + 5 {
		carol.Client([]byte("x" + strconv.Itoa(i) + "\r\n"))
	}
	h.Subscribe(Filter{Accounts: []string{"carol@example.org"}}, 1000)
	sub.Close()
	carolSub := h.Subscribe(Filter{Accounts: []string{"carol@example.org"}}, 1000)
	carol.Login("carol@example.org")
	got := drain(carolSub)
	if len(got) != maxKept+1 || got[0] != "* carol@example.org|(5 earlier lines not kept)" || got[1] != "C carol@example.org|c x5" {
		t.Fatalf("kept lines: %d, first %q", len(got), got[:2])
	}
}

// TestSlowReader: a full trace buffer drops events, counted, and never
// blocks the session.
func TestSlowReader(t *testing.T) {
	h := NewHub()
	dropped := 0
	h.Dropped = func(n int) { dropped += n }
	sub := h.Subscribe(Filter{Nets: []netip.Prefix{netip.PrefixFrom(ipA, 32)}}, 2)
	s := h.Start("smtp", "c", ipA, newEcho)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			s.Client([]byte("NOOP\r\n"))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the session blocked on a full trace")
	}
	if got := len(drain(sub)); got != 2 || sub.Dropped() != 8 || dropped != 8 {
		t.Fatalf("got %d, dropped %d (hub %d)", got, sub.Dropped(), dropped)
	}
}

// TestNilSession: a nil Hub starts nil Sessions, on which everything is
// a no-op, and Reader and Writer pass through.
func TestNilSession(t *testing.T) {
	var h *Hub
	s := h.Start("imap", "c", ipA, newEcho)
	if s != nil {
		t.Fatal("nil hub made a session")
	}
	s.Client([]byte("x\r\n"))
	s.Server([]byte("x\r\n"))
	s.Sync(0)
	s.Restart(0)
	s.Login("a@b")
	s.Note("x")
	s.End()
	var buf bytes.Buffer
	if s.Writer(&buf) != &buf {
		t.Fatal("Writer wrapped on a nil session")
	}
}

func TestFormatAndPrintable(t *testing.T) {
	e := Event{Time: time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC), Conn: "abc", Proto: "imap", Remote: "192.0.2.1",
		Account: "alice@example.org", Dir: FromClient, Text: "a1 NOOP"}
	if got, want := Format(e), "2025-01-02T03:04:05.678Z imap conn=abc 192.0.2.1 alice@example.org C: a1 NOOP"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	note := Event{Time: e.Time, Proto: "postel", Dir: Note, Text: "tracing 192.0.2.1"}
	if got, want := Format(note), "2025-01-02T03:04:05.678Z postel *: tracing 192.0.2.1"; got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	for in, want := range map[string]string{
		"plain text\tok": "plain text\tok", "caf\xc3\xa9": "café", "bell\x07": `bell\x07`, "bad\xff": `bad\xff`, "del\x7f": `del\x7f`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNoLogin: a session that never logs in keeps nothing for account
// traces; a trace of its address still gets it.
func TestNoLogin(t *testing.T) {
	h := NewHub()
	h.Subscribe(Filter{Accounts: []string{"alice@example.org"}}, 10)
	mx := h.StartNoLogin("smtp", "m", ipA, newEcho)
	mx.Client([]byte("EHLO x\r\n"))
	if mx.on.Load() || len(mx.kept) != 0 {
		t.Fatal("an MX session parses its streams for an account trace")
	}
	sub := h.Subscribe(Filter{Nets: []netip.Prefix{netip.PrefixFrom(ipA, 32)}}, 10)
	mx.Sync(0)
	mx.Client([]byte("MAIL FROM:<a@b>\r\n"))
	if got := drain(sub); len(got) != 1 || got[0] != "C |c MAIL FROM:<a@b>" {
		t.Fatalf("trace of the address: %q", got)
	}
}
