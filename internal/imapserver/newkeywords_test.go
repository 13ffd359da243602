package imapserver

import (
	"strings"
	"testing"
)

// indexOf is the index of the first line with prefix, -1 when none.
func indexOf(lines []string, prefix string) int {
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return i
		}
	}
	return -1
}

// has reports whether a response line holds a keyword (keywords are
// case-insensitive, RFC 9051 §2.3.2; the store keeps them in lower case).
func has(line, kw string) bool { return strings.Contains(strings.ToLower(line), strings.ToLower(kw)) }

// TestNewKeywordAnnounced: a keyword the mailbox never had, set by another
// session or by the same one, comes with an untagged FLAGS listing it and
// OK [PERMANENTFLAGS] before the FETCH that shows it (RFC 3501 §7.2.6).
func TestNewKeywordAnnounced(t *testing.T) {
	h := newHarness(t)
	h.put(h.alice, "", "Subject: a\r\n\r\nx\r\n")
	h.put(h.alice, "", "Subject: b\r\n\r\ny\r\n")
	watcher, actor := h.login(), h.login()
	sel := watcher.cmd("SELECT INBOX")
	if i := indexOf(sel, "* FLAGS "); i < 0 || has(sel[i], "$Project") {
		t.Fatalf("SELECT: %q", sel)
	}
	actor.cmd("SELECT INBOX")

	// Another session's keyword: FLAGS, PERMANENTFLAGS, then FETCH.
	actor.cmd("STORE 1 +FLAGS.SILENT ($Project)")
	got := watcher.cmd("NOOP")
	f, p, x := indexOf(got, "* FLAGS "), indexOf(got, "* OK [PERMANENTFLAGS "), indexOf(got, "* 1 FETCH ")
	if f < 0 || p < 0 || x < 0 || !(f < p && p < x) || !has(got[f], "$Project") || !has(got[x], "$Project") {
		t.Fatalf("NOOP after another session's new keyword: %q", got)
	}
	// Told once: the next change of a known keyword brings no FLAGS.
	actor.cmd("STORE 2 +FLAGS.SILENT ($Project)")
	if got := watcher.cmd("NOOP"); indexOf(got, "* FLAGS ") >= 0 || indexOf(got, "* 2 FETCH ") < 0 {
		t.Fatalf("NOOP after a known keyword: %q", got)
	}

	// The session's own STORE: FLAGS and PERMANENTFLAGS before its FETCH.
	got = watcher.cmd("STORE 2 +FLAGS ($Urgent)")
	f, p, x = indexOf(got, "* FLAGS "), indexOf(got, "* OK [PERMANENTFLAGS "), indexOf(got, "* 2 FETCH ")
	if f < 0 || p < 0 || x < 0 || !(f < p && p < x) || !has(got[f], "$Urgent") || !has(got[f], "$Project") {
		t.Fatalf("own STORE of a new keyword: %q", got)
	}
}
