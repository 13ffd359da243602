package imapserver

import (
	"context"
	"testing"
	"time"

	"postel/internal/store"
)

// TestInProgressSearch: a SEARCH that runs past the first report time
// tells its progress in an untagged OK [INPROGRESS (tag done goal)]
// (RFC 9585 §4), at most once per period; a tag with "]" is given as
// NIL. The period is shortened for the test, the path is the same.
func TestInProgressSearch(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.progress = progressTiming{first: time.Nanosecond, every: time.Hour} })
	for d := 1; d <= 5; d++ {
		h.put(h.alice, "INBOX", dated(d, "m"))
	}
	r := h.login()
	selectInbox(t, r)
	wantLines(t, "search", r.cmd("SEARCH RETURN (COUNT) SUBJECT m"),
		`* OK [INPROGRESS ("T" 0 5)] Still working`, `* ESEARCH (TAG "T") COUNT 5`, "T OK SEARCH completed")
	r.send("s]1 UID SORT (DATE) UTF-8 ALL")
	wantLines(t, "sort", r.until("s]1 "),
		`* OK [INPROGRESS (NIL 0 5)] Still working`, `* SORT 1 2 3 4 5`, "s]1 OK SORT completed")
	r.send("th THREAD ORDEREDSUBJECT UTF-8 ALL")
	wantLines(t, "thread", r.until("th "),
		`* OK [INPROGRESS ("th" 0 5)] Still working`, `* THREAD (1 (2)(3)(4)(5))`, "th OK THREAD completed")
}

// TestInProgressDefault: with the production timing (first report after
// a second), a quick command has none.
func TestInProgressDefault(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", dated(1, "m"))
	r := h.login()
	selectInbox(t, r)
	wantLines(t, "search", r.cmd("SEARCH ALL"), "* SEARCH 1", "T OK SEARCH completed")
}

// blockingStore holds COPY, MOVE, STORE and EXPUNGE until released.
type blockingStore struct {
	Store
	release chan struct{}
}

func (b blockingStore) Copy(ctx context.Context, acct, from int64, uids []uint32, to int64) (store.CopyResult, error) {
	<-b.release
	return b.Store.Copy(ctx, acct, from, uids, to)
}

func (b blockingStore) Move(ctx context.Context, acct, from int64, uids []uint32, to int64) (store.CopyResult, []store.Expunged, error) {
	<-b.release
	return b.Store.Move(ctx, acct, from, uids, to)
}

func (b blockingStore) ExpungeDeleted(ctx context.Context, acct, mb int64, uids []uint32) ([]store.Expunged, error) {
	<-b.release
	return b.Store.ExpungeDeleted(ctx, acct, mb, uids)
}

func (b blockingStore) StoreFlags(ctx context.Context, acct, mb int64, uids []uint32, op store.FlagOp, flags []string, since uint64) ([]store.FlagChange, error) {
	<-b.release
	return b.Store.StoreFlags(ctx, acct, mb, uids, op, flags, since)
}

// TestInProgressStoreOps: COPY, MOVE, STORE and EXPUNGE, one store operation each,
// report while it runs, with unknown progress (NIL NIL, RFC 9585 §4); the
// store holds each until the client has seen the report.
func TestInProgressStoreOps(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", dated(1, "m"))
	h.put(h.alice, "INBOX", dated(2, "m"))
	st := blockingStore{Store: h.st, release: make(chan struct{})}
	cfg := Config{AllowPlaintextLoopback: true, progress: progressTiming{first: 10 * time.Millisecond, every: time.Hour}}
	r := h.loginVia(st, cfg, nil, "alice@example.org", alicePass)
	selectInbox(t, r)
	for _, c := range []struct{ tag, cmd, want string }{
		{"c1", "COPY 1 Archive", "c1 OK [COPYUID"},
		{"c2", `STORE 1 +FLAGS (\Seen)`, "* 1 FETCH"},
		{"c3", "UID MOVE 2 Archive", "* OK [COPYUID"},
		{"c4", `STORE 1 +FLAGS.SILENT (\Deleted)`, "c4 OK"},
		{"c5", "EXPUNGE", "* 1 EXPUNGE"},
	} {
		r.send(c.tag + " " + c.cmd)
		if l := r.line(); l != `* OK [INPROGRESS ("`+c.tag+`" NIL NIL)] Still working` {
			t.Fatalf("%s: got %q", c.cmd, l)
		}
		st.release <- struct{}{}
		got := r.until(c.tag + " ")
		if len(got) == 0 || len(got[0]) < len(c.want) || got[0][:len(c.want)] != c.want {
			t.Fatalf("%s: got %q", c.cmd, got)
		}
	}
}
