package imapserver

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"postel/internal/store"
)

// TestMetadataLimits: a value over the limit is refused with [METADATA
// MAXSIZE n] (RFC 5464 §4.3), also when it comes as a non-synchronizing
// literal; past the entries of an account, [METADATA TOOMANY]; past its
// octets, [OVERQUOTA]; nothing of a refused command is set.
func TestMetadataLimits(t *testing.T) {
	h := newHarness(t)
	r := h.login()
	big := strings.Repeat("v", store.MaxMetadataValue+1)
	r.send(fmt.Sprintf("T SETMETADATA INBOX (/private/ok \"x\" /private/big {%d+}", len(big)))
	r.send(big + ")")
	if got := r.until("T "); got[len(got)-1] != "T NO [METADATA MAXSIZE "+strconv.Itoa(store.MaxMetadataValue)+"] Metadata value too large" {
		t.Fatalf("too big: %q", got)
	}
	// A synchronizing literal is read too (after the continuation).
	r.send(fmt.Sprintf("T SETMETADATA INBOX (/private/big {%d}", len(big)))
	if l := r.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("continuation: %q", l)
	}
	r.send(big + ")")
	if got := r.until("T "); !strings.HasPrefix(got[len(got)-1], "T NO [METADATA MAXSIZE ") {
		t.Fatalf("too big: %q", got)
	}
	// Exactly at the limit passes.
	r.send(fmt.Sprintf("T SETMETADATA INBOX (/private/big {%d+}", len(big)-1))
	r.send(big[1:] + ")")
	if got := r.until("T "); got[len(got)-1] != "T OK SETMETADATA completed" {
		t.Fatalf("at the limit: %q", got)
	}
	if got := r.cmd("GETMETADATA INBOX /private/ok"); len(got) != 1 {
		t.Fatalf("/private/ok was set by a refused command: %q", got)
	}

	// Too many entries: fill up to the limit less one through the store,
	// then two in one command.
	md := store.Metadata(h.st)
	var es []store.MetadataEntry
	for i := 0; i < store.MaxMetadataEntries-2; i++ {
		es = append(es, store.MetadataEntry{Name: fmt.Sprintf("/private/n%d", i), Value: []byte("x")})
	}
	if err := md.SetMetadata(t.Context(), h.alice.ID, "", es); err != nil {
		t.Fatal(err)
	}
	if got := r.cmd(`SETMETADATA "" (/shared/a "1" /shared/b "2")`); got[len(got)-1] != "T NO [METADATA TOOMANY] Too many metadata entries" {
		t.Fatalf("too many: %q", got)
	}
	if got := r.cmd(`SETMETADATA "" (/shared/a "1")`); got[len(got)-1] != "T OK SETMETADATA completed" {
		t.Fatalf("the last one: %q", got)
	}
	for i := range es {
		es[i].Value = nil
	}
	if err := md.SetMetadata(t.Context(), h.alice.ID, "", es); err != nil {
		t.Fatal(err)
	}
	// Too many octets: MaxMetadataTotal in values of the largest size.
	// /private/big holds one already: the 15th more is one too many.
	n := store.MaxMetadataTotal / store.MaxMetadataValue
	for i := 0; i < n; i++ {
		r.send(fmt.Sprintf("T SETMETADATA Sent (/private/v%d {%d+}", i, store.MaxMetadataValue))
		r.send(big[1:] + ")")
		last := r.until("T ")[0]
		if i < n-2 && last != "T OK SETMETADATA completed" {
			t.Fatalf("value %d: %q", i, last)
		}
		if i == n-2 && last != "T NO [OVERQUOTA] Metadata of this account too large" {
			t.Fatalf("value %d over the total: %q", i, last)
		}
	}
}

// TestMetadataBinary: a value holding NUL comes in a literal8 and goes
// back as one (RFC 5464 §5: value = nstring / literal8).
func TestMetadataBinary(t *testing.T) {
	h := newHarness(t)
	r := h.login()
	r.send("T SETMETADATA INBOX (/private/bin ~{3+}")
	io := "a\x00b)"
	r.send(io)
	if got := r.until("T "); got[len(got)-1] != "T OK SETMETADATA completed" {
		t.Fatalf("set: %q", got)
	}
	// NUL in a plain literal is refused (RFC 9051 §9: CHAR8).
	r.send("T SETMETADATA INBOX (/private/bin2 {3+}")
	r.send(io)
	if got := r.until("T "); !strings.HasPrefix(got[len(got)-1], "T BAD ") {
		t.Fatalf("NUL in a literal: %q", got)
	}
	r.send("T GETMETADATA INBOX /private/bin")
	if l := r.line(); l != "* METADATA INBOX (/private/bin ~{3}" {
		t.Fatalf("got %q", l)
	}
	if l := r.line(); l != "a\x00b)" {
		t.Fatalf("value %q", l)
	}
	if l := r.line(); l != "T OK GETMETADATA completed" {
		t.Fatalf("got %q", l)
	}
}

// TestMetadataClient: go-imap's client sets, reads and removes server and
// mailbox entries (it sends the GETMETADATA options after the mailbox,
// as the drafts did; the server takes both orders).
func TestMetadataClient(t *testing.T) {
	h := newHarness(t)
	c := h.client(nil)
	if caps := c.Caps(); !caps.Has("METADATA") || !caps.Has("METADATA-SERVER") {
		t.Fatalf("capabilities %v", caps)
	}
	val := func(s string) *[]byte { b := []byte(s); return &b }
	if err := c.SetMetadata("", map[string]*[]byte{"/shared/comment": val("hello"), "/private/x/y": val("deep")}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMetadata("INBOX", map[string]*[]byte{"/private/comment": val("inbox note")}).Wait(); err != nil {
		t.Fatal(err)
	}
	d, err := c.GetMetadata("", []string{"/shared/comment", "/private/x"}, &imapclient.GetMetadataOptions{Depth: imapclient.GetMetadataDepthInfinity}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Entries) != 2 || d.Entries["/shared/comment"] == nil || string(*d.Entries["/shared/comment"]) != "hello" ||
		d.Entries["/private/x/y"] == nil || string(*d.Entries["/private/x/y"]) != "deep" {
		t.Fatalf("server metadata %+v", d.Entries)
	}
	max := uint32(3)
	d, err = c.GetMetadata("INBOX", []string{"/private/comment"}, &imapclient.GetMetadataOptions{MaxSize: &max}).Wait()
	if err != nil || len(d.Entries) != 0 {
		t.Fatalf("MAXSIZE 3: %+v, %v", d, err)
	}
	if err := c.SetMetadata("INBOX", map[string]*[]byte{"/private/comment": nil}).Wait(); err != nil {
		t.Fatal(err)
	}
	es, err := store.Metadata(h.st).Metadata(t.Context(), h.alice.ID, "INBOX")
	if err != nil || len(es) != 0 {
		t.Fatalf("INBOX metadata after NIL: %v, %v", es, err)
	}
	if got, _ := store.Metadata(h.st).Metadata(t.Context(), h.alice.ID, ""); !bytes.Equal(got[0].Value, []byte("deep")) {
		t.Fatalf("server metadata in the store: %v", got)
	}
}
