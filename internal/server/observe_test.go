package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postel/internal/config"
	"postel/internal/metrics"
	"postel/internal/store/sqlite"
	"postel/internal/testutil/scrape"
)

// startServer runs a whole server in-process on loopback ports the
// kernel picks, its store measured by the server's metrics.
func startServer(t *testing.T) (*Server, *sqlite.Store) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	m := metrics.New()
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{Exclusive: true, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Hostname = "mx.test.example"
	cfg.DataDir = dir
	cfg.Listen = config.Listen{SMTP: "127.0.0.1:0", Submission: "127.0.0.1:0", Submissions: "127.0.0.1:0",
		IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0", POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0", HTTPS: "127.0.0.1:0",
		Admin: "127.0.0.1:0"}
	cfg.DNS.Servers = []string{"127.0.0.1:9"} // no resolver: nothing leaves
	srv, err := New(cfg, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv.Metrics = m
	return srv, st
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminListener: /readyz says the server is not ready before every
// listener is bound, is ready once they are, and not when the store no
// longer answers or the server stops; /healthz only says the process
// runs; /metrics is Prometheus's text format, the store's commits and
// the self-signed certificate's expiry included.
func TestAdminListener(t *testing.T) {
	srv, st := startServer(t)
	ctx := context.Background()
	before := strings.Join(srv.notReady(ctx), "; ")
	for _, want := range []string{"starting", "listener smtp (127.0.0.1:0) not bound", "listener https (127.0.0.1:0) not bound"} {
		if !strings.Contains(before, want) {
			t.Errorf("before Start: %q lacks %q", before, want)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.Shutdown(ctx)
		}
	})
	base := "http://" + srv.Addr("admin").String()
	if code, body := get(t, base+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("/readyz when up: %d %q", code, body)
	}
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if err := st.AddDomain(ctx, "example.org"); err != nil { // a commit to measure
		t.Fatal(err)
	}
	f, err := scrape.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := f.Value("postel_store_commit_duration_seconds"); n < 1 {
		t.Errorf("no commit measured: %v", f.Series("postel_store_commit_duration_seconds"))
	}
	exp, ok := f.Value("postel_certificate_expiry_timestamp_seconds", "name", "mx.test.example", "source", "self-signed")
	if !ok || time.Unix(int64(exp), 0).Before(time.Now()) {
		t.Errorf("certificate expiry %v (present %v): %v", exp, ok, f.Series("postel_certificate_expiry_timestamp_seconds"))
	}
	if n, ok := f.Value("postel_queue_messages"); !ok || n != 0 {
		t.Errorf("queue messages %v (present %v)", n, ok)
	}

	st.Close()
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "store: sqlite: store closed") {
		t.Fatalf("/readyz with the store closed: %d %q", code, body)
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz with the store closed: %d", code)
	}
	srv.stopping.Store(true) // as Shutdown's first step
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz while stopping: %d %q", code, body)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	stopped = true
	if _, err := (&http.Client{Timeout: 2 * time.Second}).Get(base + "/healthz"); err == nil {
		t.Error("the admin listener still answers after Shutdown")
	}
}
