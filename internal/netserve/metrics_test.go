package netserve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"postel/internal/metrics"
	"postel/internal/testutil/scrape"
)

// TestAdmissionMetrics: the Admission counts accepted, refused (by
// limit), evicted and open connections as it decides.
func TestAdmissionMetrics(t *testing.T) {
	m := metrics.New()
	a := NewAdmission(Limits{MaxConns: 2, MaxConnsPerIP: 5, MaxUnauth: 2, ConnRate: 1000})
	a.Observe(m.Service(metrics.ServiceIMAP))
	ip := func(n byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, n}) }
	t1, _ := a.Admit(ip(1), nil)
	t2, _ := a.Admit(ip(2), nil)
	t2.SetUnauth(false) // logged in: never evicted
	t1.Busy(true)       // working: not evicted either
	if _, r := a.Admit(ip(3), nil); r != TooMany {
		t.Fatalf("third connection: %v", r)
	}
	t1.Busy(false)
	evicted := false
	t1.evict = func() { evicted = true }
	t3, r := a.Admit(ip(3), nil) // evicts t1
	if r != Admitted || !evicted {
		t.Fatalf("fourth connection: %v, evicted %v", r, evicted)
	}
	t1.Release() // after its eviction: counted once
	t3.Release()
	t3.CountIO(10, 300)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	f, err := scrape.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"postel_connections_accepted_total", []string{"service", "imap"}, 3},
		{"postel_connections_refused_total", []string{"service", "imap", "limit", "max_conns"}, 1},
		{"postel_connections_evicted_total", []string{"service", "imap"}, 1},
		{"postel_connections_open", []string{"service", "imap"}, 1}, // t2
		{"postel_received_bytes_total", []string{"service", "imap"}, 10},
		{"postel_sent_bytes_total", []string{"service", "imap"}, 300},
	} {
		if got, ok := f.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
}

// TestServiceBytes: a Service's connections count the octets they carry
// both ways, on a real socket.
func TestServiceBytes(t *testing.T) {
	m := metrics.New()
	adm := NewAdmission(Limits{})
	adm.Observe(m.Service(metrics.ServicePOP3))
	svc := &Service{
		Log:       slog.New(slog.DiscardHandler),
		Admission: adm,
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
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		svc.Shutdown(ctx, func() {})
	}()
	c, br := dialEcho(t, ln.Addr().String()) // "+ hello\r\n": 9 octets
	io.WriteString(c, "ping\r\n")            // 6 in, "= ping\r\n": 8 out
	if line, err := br.ReadString('\n'); err != nil || line != "= ping\r\n" {
		t.Fatalf("echo: %q, %v", line, err)
	}
	c.Close()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	// The session ends after the client's close: wait for the gauge.
	var f scrape.Families
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if f, err = scrape.Get(srv.URL); err != nil {
			t.Fatal(err)
		}
		if open, _ := f.Value("postel_connections_open", "service", "pop3"); open == 0 || time.Now().After(deadline) {
			break
		}
	}
	for name, want := range map[string]float64{
		"postel_connections_accepted_total": 1, "postel_connections_open": 0,
		"postel_received_bytes_total": 6, "postel_sent_bytes_total": 17,
	} {
		if got, ok := f.Value(name, "service", "pop3"); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
}
