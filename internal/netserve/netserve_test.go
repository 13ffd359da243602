package netserve

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAdmission(t *testing.T) {
	a := NewAdmission(Limits{MaxConns: 3, MaxConnsPerIP: 2, MaxUnauth: 3, ConnRate: 100})
	x, y, z := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")
	var tickets []*Ticket
	for i, c := range []struct {
		ip   netip.Addr
		want Refusal
	}{
		{x, Admitted}, {x, Admitted}, {x, TooManyFromIP}, {y, Admitted}, {z, TooMany},
	} {
		tk, got := a.Admit(c.ip, nil)
		if got != c.want {
			t.Fatalf("step %d: Admit(%s) = %v, want %v", i, c.ip, got, c.want)
		}
		if got == Admitted {
			// Busy sessions (none waits for input): nothing to evict.
			tk.SetUnauth(false)
			tickets = append(tickets, tk)
		}
	}
	if a.Count(x) != 2 || a.Count(z) != 0 {
		t.Fatalf("Count = %d, %d", a.Count(x), a.Count(z))
	}
	tickets[0].Release()
	tickets[0].Release() // twice is harmless
	tz, got := a.Admit(z, nil)
	if got != Admitted {
		t.Fatalf("after a release: %v", got)
	}
	tickets[1].Release()
	tickets[2].Release()
	tz.Release()
	// IPv6 addresses of one /64 share the per-IP count.
	v1, _ := a.Admit(netip.MustParseAddr("2001:db8:1:2::1"), nil)
	v2, _ := a.Admit(netip.MustParseAddr("2001:db8:1:2:ffff::9"), nil)
	if _, got := a.Admit(netip.MustParseAddr("2001:db8:1:2::77"), nil); got != TooManyFromIP {
		t.Fatalf("third address of one /64: %v", got)
	}
	v1.Release()
	v2.Release()
	if a.total != 0 || len(a.byIP) != 0 || a.unauth != 0 || a.first != nil || a.last != nil {
		t.Fatalf("counts left: %d, %v, %d", a.total, a.byIP, a.unauth)
	}
}

// TestEviction: when the unauthenticated budget or the total is full, the
// oldest unauthenticated connection that waits for input is dropped for
// the new one; busy and authenticated ones never are.
func TestEviction(t *testing.T) {
	a := NewAdmission(Limits{MaxConns: 4, MaxConnsPerIP: 10, MaxUnauth: 3, ConnRate: 100})
	ip := netip.MustParseAddr("192.0.2.7")
	var evicted []int
	admit := func(n int) (*Ticket, Refusal) {
		return a.Admit(ip, func() { evicted = append(evicted, n) })
	}
	var tk []*Ticket
	for i := range 3 {
		x, r := admit(i)
		if r != Admitted {
			t.Fatalf("conn %d: %v", i, r)
		}
		x.Busy(true) // the server works on its input
		tk = append(tk, x)
	}
	// All three busy: the budget refuses.
	if _, r := admit(3); r != TooManyUnauth {
		t.Fatalf("budget full, all busy: %v", r)
	}
	// Conn 0 logs in and leaves the budget; conn 3 takes its place.
	tk[0].SetUnauth(false)
	x3, r := admit(3)
	if r != Admitted || len(evicted) != 0 {
		t.Fatalf("room in the budget: %v, evicted %v", r, evicted)
	}
	x3.Busy(true)
	// Conns 1 and 2 wait for input; conn 3 is busy. Both limits are
	// reached: the oldest idle (1) goes.
	tk[1].Busy(false)
	tk[2].Busy(false)
	x4, r := admit(4)
	x4.Busy(true)
	if r != Admitted || len(evicted) != 1 || evicted[0] != 1 {
		t.Fatalf("budget full: %v, evicted %v; want conn 1", r, evicted)
	}
	if a.Unauthenticated() != 3 || a.Total() != 4 {
		t.Fatalf("after eviction: unauth %d total %d", a.Unauthenticated(), a.Total())
	}
	tk[1].Release() // the evicted session ends: no double count
	if a.Total() != 4 {
		t.Fatalf("release after eviction changed the total: %d", a.Total())
	}
	// Only the total is reached: conn 2 (waiting) goes, never conn 0
	// (authenticated, even while it waits) nor conn 4 (busy).
	x3.SetUnauth(false)
	tk[0].Busy(false)
	if _, r := admit(5); r != Admitted || evicted[len(evicted)-1] != 2 {
		t.Fatalf("total full: %v, evicted %v; want conn 2", r, evicted)
	}
	// A transaction of port 25 ended: conn 3 is back in the budget, as
	// the newest, so the waiting conn 4 goes first.
	x3.SetUnauth(true)
	x3.Busy(false)
	x4.Busy(false)
	if _, r := admit(6); r != Admitted || evicted[len(evicted)-1] != 4 {
		t.Fatalf("evicted %v; want conn 4, older than the re-entered conn 3", evicted)
	}
	if a.Total() != 4 || a.Unauthenticated() != 3 || a.Idle() != 3 {
		t.Fatalf("at the end: total %d unauth %d idle %d", a.Total(), a.Unauthenticated(), a.Idle())
	}
}

func TestAdmissionExempt(t *testing.T) {
	a := NewAdmission(Limits{MaxConns: 10, MaxConnsPerIP: 1, MaxUnauth: 1, ConnRate: 1,
		Exempt: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	trusted := netip.MustParseAddr("198.51.100.9")
	for i := range 5 {
		tk, r := a.Admit(trusted, nil)
		if r != Admitted {
			t.Fatalf("exempt conn %d: %v", i, r)
		}
		if tk.inList {
			t.Fatal("exempt connection in the unauthenticated budget")
		}
	}
	other := netip.MustParseAddr("203.0.113.1")
	if _, r := a.Admit(other, nil); r != Admitted {
		t.Fatalf("first from another source: %v", r)
	}
	if _, r := a.Admit(other, nil); r != TooFast {
		t.Fatalf("second within the minute at ConnRate 1: %v", r)
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.WithDefaults()
	if l.MaxConns != 1000 || l.MaxConnsPerIP != 20 || l.MaxUnauth != 500 || l.UnauthTimeout != time.Minute ||
		l.ConnRate != 60 || l.RcptRate != 300 || l.MessageRate != 60 || l.GreetDelay != time.Second {
		t.Fatalf("defaults: %+v", l)
	}
	if l := (Limits{MaxConns: 10, MaxUnauth: 50}).WithDefaults(); l.MaxUnauth != 10 {
		t.Fatalf("MaxUnauth above MaxConns: %d", l.MaxUnauth)
	}
	for ip, want := range map[string]bool{"127.0.0.5": true, "::1": true, "::ffff:127.0.0.1": true, "192.0.2.1": false} {
		if got := l.RateExempt(netip.MustParseAddr(ip)); got != want {
			t.Errorf("RateExempt(%s) = %v", ip, got)
		}
	}
	l.LimitLoopback = true
	if l.RateExempt(netip.MustParseAddr("127.0.0.1")) {
		t.Error("LimitLoopback: loopback still exempt")
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	r := NewRateLimiter(3)
	r.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("2001:db8:5::1"), netip.MustParseAddr("2001:db8:5::2") // one /64
	for i, c := range []struct {
		ip      netip.Addr
		advance time.Duration
		want    bool
	}{
		{a, 0, true}, {b, 0, true}, {a, 0, true}, {b, 0, false}, // 3 at once, then none
		{a, 19 * time.Second, false}, // 0.95 of a token back
		{a, 2 * time.Second, true},   // one token back after 20 s
		{a, 0, false},
		{netip.MustParseAddr("192.0.2.1"), 0, true}, // another source has its own bucket
	} {
		now = now.Add(c.advance)
		if got := r.Allow(c.ip); got != c.want {
			t.Fatalf("step %d: Allow(%s) = %v, want %v", i, c.ip, got, c.want)
		}
	}
	// Full buckets are forgotten at the next sweep.
	now = now.Add(2 * time.Minute)
	r.Allow(a)
	if n := r.sources(); n != 1 {
		t.Fatalf("sources after the sweep: %d, want 1", n)
	}
}

func TestRateLimiterBounded(t *testing.T) {
	r := NewRateLimiter(1)
	for i := range maxRateSources + 100 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.Allow(ip)
	}
	if n := r.sources(); n > maxRateSources {
		t.Fatalf("%d sources remembered, limit %d", n, maxRateSources)
	}
}

func TestRemoteIP(t *testing.T) {
	for in, want := range map[net.Addr]string{
		&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 25}: "192.0.2.1",
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 25}:      "2001:db8::1",
		&net.UnixAddr{Name: "@", Net: "unix"}:                       "invalid IP",
	} {
		if got := RemoteIP(in).String(); got != want {
			t.Errorf("RemoteIP(%v) = %s, want %s", in, got, want)
		}
	}
	if a, b := NewID(), NewID(); a == b || len(a) != 16 {
		t.Errorf("NewID: %q, %q", a, b)
	}
}

// echoSession is a line protocol for testing Service: it greets, logs in
// on "LOGIN", echoes other lines, and says goodbye when evicted.
type echoSession struct{ c *Conn }

func (e *echoSession) Serve() {
	defer e.c.Close()
	e.c.WriteTimeout = 5 * time.Second
	br := bufio.NewReader(e.c)
	io.WriteString(e.c, "+ hello\r\n")
	for {
		if e.c.ReadBy(time.Now().Add(10 * time.Second)) {
			break
		}
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		if strings.TrimSpace(line) == "LOGIN" {
			e.c.Authenticated()
		}
		io.WriteString(e.c, "= "+line)
	}
	if e.c.Evicted() {
		io.WriteString(e.c, "- evicted\r\n")
	}
}
func (e *echoSession) Interrupt()   { e.c.Interrupt() }
func (e *echoSession) Close() error { return e.c.Close() }

// startService runs a Service of echo sessions on a real socket.
func startService(t *testing.T, l Limits) (*Service, string, *lockedBuffer) {
	logs := &lockedBuffer{}
	svc := &Service{
		Log:       slog.New(slog.NewTextHandler(logs, nil)),
		Admission: NewAdmission(l),
		Refusal:   func(reason string) string { return "- " + reason },
		NewSession: func(c *Conn, id string, ip netip.Addr, implicitTLS bool) Session {
			return &echoSession{c: c}
		},
		Closed: errors.New("closed"),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go svc.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		svc.Shutdown(ctx, func() {})
	})
	return svc, ln.Addr().String(), logs
}

// dialEcho connects and reads the greeting.
func dialEcho(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "+ hello\r\n" {
		t.Fatalf("greeting %q, %v", line, err)
	}
	return c, br
}

// TestServiceEviction runs Service on a real socket: when the total is
// reached, a new connection evicts the oldest idle unauthenticated one
// (which is told so), while a logged-in one stays.
func TestServiceEviction(t *testing.T) {
	svc, addr, _ := startService(t, Limits{MaxConns: 3, MaxConnsPerIP: 10, MaxUnauth: 3})
	user, ubr := dialEcho(t, addr)
	io.WriteString(user, "LOGIN\r\n")
	if line, _ := ubr.ReadString('\n'); line != "= LOGIN\r\n" {
		t.Fatalf("login: %q", line)
	}
	_, br1 := dialEcho(t, addr)
	_, br2 := dialEcho(t, addr)
	_, br3 := dialEcho(t, addr)
	if line, err := br1.ReadString('\n'); line != "- evicted\r\n" {
		t.Fatalf("oldest idle connection: %q, %v", line, err)
	}
	if _, err := br1.ReadString('\n'); err == nil {
		t.Fatal("evicted connection still open")
	}
	// The logged-in session still works; the newer ones heard nothing.
	io.WriteString(user, "ping\r\n")
	if line, err := ubr.ReadString('\n'); line != "= ping\r\n" {
		t.Fatalf("logged-in session after the eviction: %q, %v", line, err)
	}
	for _, br := range []*bufio.Reader{br2, br3} {
		if br.Buffered() != 0 {
			t.Fatal("a newer idle connection was told something")
		}
	}
	if n := svc.Admission.Total(); n != 3 {
		t.Fatalf("admitted: %d", n)
	}
}

// TestServiceRefusal: a refused connection gets the protocol's line with
// the reason, and the log one line naming the limit and the client.
func TestServiceRefusal(t *testing.T) {
	_, addr, logs := startService(t, Limits{MaxConnsPerIP: 1})
	dialEcho(t, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if b, _ := io.ReadAll(c); string(b) != "- Too many connections from your address\r\n" {
		t.Fatalf("refusal %q", b)
	}
	waitLog := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `msg="connection refused"`) && time.Now().Before(waitLog) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := logs.String(); !strings.Contains(l, "limit=max_conns_per_ip") || !strings.Contains(l, "remote=127.0.0.1") {
		t.Fatalf("log:\n%s", l)
	}
}

// lockedBuffer is a log sink safe for the concurrent sessions.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
