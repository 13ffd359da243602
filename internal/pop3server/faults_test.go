package pop3server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"postel/internal/auth"
	"postel/internal/store"
)

// faultyStore fails the calls named in fail, as a broken disk or database
// would.
type faultyStore struct {
	store.Store
	fail map[string]bool
}

var errDisk = errors.New("disk on fire")

func (f faultyStore) Messages(ctx context.Context, accountID, mailboxID int64, changedSince uint64) ([]store.Message, error) {
	if f.fail["Messages"] {
		return nil, errDisk
	}
	return f.Store.Messages(ctx, accountID, mailboxID, changedSince)
}

func (f faultyStore) Expunge(ctx context.Context, accountID, mailboxID int64, uids []uint32) ([]store.Expunged, error) {
	if f.fail["Expunge"] {
		return nil, errDisk
	}
	return f.Store.Expunge(ctx, accountID, mailboxID, uids)
}

func (f faultyStore) OpenMessage(ctx context.Context, accountID, mailboxID int64, uid uint32) (store.MessageReader, error) {
	if f.fail["OpenMessage"] {
		return nil, errDisk
	}
	return f.Store.OpenMessage(ctx, accountID, mailboxID, uid)
}

// serveWith starts a second Server on h's store seen through st, without
// TLS, with its own throttle; it returns the address.
func (h *harness) serveWith(st store.Store, th auth.ThrottleConfig) string {
	h.t.Helper()
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := New(Config{AllowPlaintextLoopback: true}, st, auth.NewAuthenticator(h.st, auth.NewThrottle(th), log), nil, log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	go srv.Serve(l)
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// TestServerFaults: store failures are answered "-ERR [SYS/TEMP]" without
// their text, logged, and leave nothing half done.
func TestServerFaults(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "", "Subject: a\r\n\r\nx\r\n")
	fail := map[string]bool{}
	addr := h.serveWith(faultyStore{h.st, fail}, auth.DefaultThrottleConfig())
	dial := func() *raw {
		r := h.connect(addr, nil)
		r.line()
		return r
	}

	// Loading the maildrop fails: the login is refused and the lock given
	// back.
	fail["Messages"] = true
	r := dial()
	r.expect("USER alice@example.org", "+OK")
	r.expect("PASS "+alicePass, "-ERR [SYS/TEMP] Internal server error, try again later")
	fail["Messages"] = false
	r.expect("USER alice@example.org", "+OK")
	r.expect("PASS "+alicePass, "+OK Maildrop locked and ready, 1 messages")

	// Reading a message fails.
	fail["OpenMessage"] = true
	r.expect("RETR 1", "-ERR [SYS/TEMP] Internal server error, try again later")
	fail["OpenMessage"] = false

	// The expunge of QUIT fails: nothing is removed (RFC 1939 §6).
	fail["Expunge"] = true
	r.expect("DELE 1", "+OK")
	r.expect("QUIT", "-ERR [SYS/TEMP] Deleted messages not removed, try again later")
	r.closed()
	if _, msgs := h.inbox(h.alice); len(msgs) != 1 {
		t.Fatalf("INBOX holds %d messages; want 1", len(msgs))
	}
	if logs := h.logs.String(); !strings.Contains(logs, "disk on fire") || !strings.Contains(logs, `msg="expunge failed"`) {
		t.Fatalf("the faults were not logged:\n%s", logs)
	}
}

// TestThrottled: past the throttle's failures the client is told to come
// back later, with [SYS/TEMP], even with the right password; and a
// server without TLS has no STLS.
func TestThrottled(t *testing.T) {
	h := newHarness(t)
	addr := h.serveWith(h.st, auth.ThrottleConfig{
		Window: time.Minute, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
		MaxFailures: 2, Lockout: time.Minute,
	})
	r := h.connect(addr, nil)
	r.line()
	for range 2 {
		r.expect("USER alice@example.org", "+OK")
		r.expect("PASS wrong", "-ERR [AUTH] Authentication failed")
	}
	r.expect("USER alice@example.org", "+OK")
	r.expect("PASS "+alicePass, "-ERR [SYS/TEMP] Too many failed attempts, try again later")
	r.expect("STLS", "-ERR TLS is not available")
	r.expect("CAPA", "+OK")
	for l := r.line(); l != "."; l = r.line() {
		if l == "STLS" {
			t.Fatal("CAPA offers STLS without TLS")
		}
	}
}
