package imapserver

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"postel/internal/store"
)

// nulMessage holds a NUL in its second part only: BODY[] and BODY[2]
// cannot be sent as literals, BODY[1] can.
const nulMessage = "Subject: nul\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nclean part\r\n" +
	"--b\r\nContent-Type: application/x-bin\r\nContent-Transfer-Encoding: binary\r\n\r\nx\x00y\r\n" +
	"--b--\r\n"

const cleanMessage = "Subject: clean\r\n\r\nno NUL in here\r\n"

// forgetNUL makes the messages of alice's INBOX with the given UIDs look
// stored before the store recorded NUL (SQLite migration 15): has_nul
// NULL, store.NULUnknown.
func forgetNUL(t *testing.T, h *harness, uids ...uint32) {
	t.Helper()
	q := url.Values{"_pragma": {"busy_timeout(10000)"}}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, "postel.db")+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inbox := h.mailbox(h.alice, "INBOX")
	for _, uid := range uids {
		res, err := db.Exec(`UPDATE messages SET has_nul = NULL WHERE mailbox_id = ? AND uid = ?`, inbox.ID, uid)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("UID %d: %d rows", uid, n)
		}
	}
	for _, m := range h.messages(h.alice, "INBOX") {
		for _, uid := range uids {
			if m.UID == uid && m.NUL != store.NULUnknown {
				t.Fatalf("UID %d: NUL %d after forgetNUL", uid, m.NUL)
			}
		}
	}
}

// TestFetchNULKeepsUnseen: a FETCH of BODY[] or RFC822 refused because
// the octets hold NUL (NO [CANNOT], fetch_nul.go) returns no text, so it
// sets no \Seen (RFC 9051 §6.4.5, RFC 3501 §6.4.5: \Seen is set when the
// text is returned); the messages of the same FETCH that are sent are
// flagged, and a section free of NUL in a message holding one is sent
// and flags it. Alike whether the store recorded the message's NUL or
// not (a message stored before it did).
func TestFetchNULKeepsUnseen(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", nulMessage)   // 1
	h.put(h.alice, "INBOX", cleanMessage) // 2
	h.put(h.alice, "INBOX", nulMessage)   // 3: unknown
	h.put(h.alice, "INBOX", cleanMessage) // 4: unknown
	h.put(h.alice, "INBOX", nulMessage)   // 5
	h.put(h.alice, "INBOX", nulMessage)   // 6: unknown
	forgetNUL(t, h, 3, 4, 6)
	r := h.login()
	r.cmd("ENABLE IMAP4rev2") // no \Recent in the FLAGS below
	r.cmd("SELECT INBOX")
	const refused = "T NO [CANNOT] BODY[] and RFC822 cannot carry NUL octets, fetch BINARY[] (RFC 3516)\r\n"
	fetch := func(cmd string) string {
		t.Helper()
		r.send("T " + cmd)
		return string(joinResponses(r.responses("T")))
	}
	for _, cmd := range []string{"FETCH 1 BODY[]", "FETCH 3 BODY[]", "FETCH 1 RFC822", "FETCH 3 RFC822", "FETCH 1 BODY[2]", "FETCH 3 (UID BODY[1] BODY[2])"} {
		if got := fetch(cmd); got != refused {
			t.Errorf("%s:\n got %q\nwant %q", cmd, got, refused)
		}
	}
	want := "* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS ())\r\n* 3 FETCH (FLAGS ())\r\n* 4 FETCH (FLAGS ())\r\n" +
		"* 5 FETCH (FLAGS ())\r\n* 6 FETCH (FLAGS ())\r\nT OK FETCH completed\r\n"
	if got := fetch("FETCH 1:* FLAGS"); got != want {
		t.Fatalf("after the refused FETCHes:\n got %q\nwant %q", got, want)
	}

	// One FETCH over all: those sent are flagged, the refused are not.
	got := fetch("FETCH 1:4 BODY[]")
	lit := "{" + strconv.Itoa(len(cleanMessage)) + "}\r\n" + cleanMessage
	for _, w := range []string{"* 2 FETCH (BODY[] " + lit + " FLAGS (\\Seen))\r\n", "* 4 FETCH (BODY[] " + lit + " FLAGS (\\Seen))\r\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("FETCH 1:4 BODY[]: no %q in\n%q", w, got)
		}
	}
	if strings.Contains(got, "* 1 FETCH") || strings.Contains(got, "* 3 FETCH") || !strings.HasSuffix(got, refused) {
		t.Errorf("FETCH 1:4 BODY[]:\n got %q", got)
	}
	// The clean part of a message holding NUL, and a partial BODY[] that
	// leaves the NUL out, are sent and flag it.
	if got, w := fetch("FETCH 5 BODY[1]"), "* 5 FETCH (BODY[1] {10}\r\nclean part FLAGS (\\Seen))\r\nT OK FETCH completed\r\n"; got != w {
		t.Errorf("FETCH 5 BODY[1]:\n got %q\nwant %q", got, w)
	}
	if got, w := fetch("FETCH 6 BODY[]<0.12>"), "* 6 FETCH (BODY[]<0> {12}\r\nSubject: nul FLAGS (\\Seen))\r\nT OK FETCH completed\r\n"; got != w {
		t.Errorf("FETCH 6 BODY[]<0.12>:\n got %q\nwant %q", got, w)
	}
	want = "* 1 FETCH (FLAGS ())\r\n* 2 FETCH (FLAGS (\\Seen))\r\n* 3 FETCH (FLAGS ())\r\n* 4 FETCH (FLAGS (\\Seen))\r\n" +
		"* 5 FETCH (FLAGS (\\Seen))\r\n* 6 FETCH (FLAGS (\\Seen))\r\nT OK FETCH completed\r\n"
	if got := fetch("FETCH 1:* FLAGS"); got != want {
		t.Fatalf("at the end:\n got %q\nwant %q", got, want)
	}
	// And so the store has them.
	for _, m := range h.messages(h.alice, "INBOX") {
		if seen := strings.Contains(strings.Join(m.Flags, " "), `\Seen`); seen != (m.UID != 1 && m.UID != 3) {
			t.Errorf("stored UID %d: flags %q", m.UID, m.Flags)
		}
	}
}

// countingStore counts the octets read from message files.
type countingStore struct {
	Store
	read *atomic.Int64
}

func (c countingStore) OpenMessage(ctx context.Context, acct, mb int64, uid uint32) (store.MessageReader, error) {
	r, err := c.Store.OpenMessage(ctx, acct, mb, uid)
	if err != nil {
		return nil, err
	}
	return countingReader{r, c.read}, nil
}

type countingReader struct {
	store.MessageReader
	read *atomic.Int64
}

func (r countingReader) Read(p []byte) (int, error) {
	n, err := r.MessageReader.Read(p)
	r.read.Add(int64(n))
	return n, err
}

func (r countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.MessageReader.ReadAt(p, off)
	r.read.Add(int64(n))
	return n, err
}

// TestFetchNULReadOnce: a message the store knows to be free of NUL
// (store.NULNone, recorded at delivery) is read once for its BODY[] or
// RFC822, as it is sent, whether the FETCH sets \Seen or not; one whose
// NUL is unknown (stored before) or present is looked at first, each
// section exactly.
func TestFetchNULReadOnce(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "INBOX", cleanMessage) // 1
	h.put(h.alice, "INBOX", cleanMessage) // 2: unknown
	h.put(h.alice, "INBOX", nulMessage)   // 3
	forgetNUL(t, h, 2)
	var read atomic.Int64
	r := h.loginThrough(countingStore{h.st, &read}, nil)
	r.cmd("SELECT INBOX")
	n := int64(len(cleanMessage))
	for _, tc := range []struct {
		cmd  string
		want int64
	}{
		{"FETCH 1 BODY.PEEK[]", n},
		{"FETCH 1 BODY[]", n},
		{"FETCH 1 RFC822", n},
		{"FETCH 2 BODY.PEEK[]", 2 * n},
		{"FETCH 2 BODY[]", 2 * n},
		{"FETCH 3 BODY.PEEK[]<0.12>", 2 * 12},
		{"FETCH 3 BODY[]<0.12>", 2 * 12},
	} {
		read.Store(0)
		r.send("T " + tc.cmd)
		got := string(joinResponses(r.responses("T")))
		if !strings.HasSuffix(got, "T OK FETCH completed\r\n") {
			t.Fatalf("%s: %q", tc.cmd, got)
		}
		if n := read.Load(); n != tc.want {
			t.Errorf("%s: read %d octets of the message file, want %d", tc.cmd, n, tc.want)
		}
	}
}
