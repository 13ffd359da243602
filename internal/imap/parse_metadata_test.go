package imap

import (
	"reflect"
	"testing"
)

// TestParseMetadata: GETMETADATA and SETMETADATA (RFC 5464 §5), options
// before the mailbox (and after it, as the drafts had them), entries one
// or in a list, values as NIL, strings, literals and literal8.
func TestParseMetadata(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"a GETMETADATA \"\" /shared/comment\r\n", &GetMetadataArgs{Mailbox: "", Entries: []string{"/shared/comment"}, MaxSize: -1}},
		{"a GETMETADATA (MAXSIZE 10 DEPTH infinity) INBOX (/private /shared/x)\r\n",
			&GetMetadataArgs{Mailbox: "INBOX", Entries: []string{"/private", "/shared/x"}, MaxSize: 10, Depth: -1}},
		{"a GETMETADATA inbox (DEPTH 1) (\"/private/a\")\r\n", &GetMetadataArgs{Mailbox: "INBOX", Entries: []string{"/private/a"}, MaxSize: -1, Depth: 1}},
		{"a GETMETADATA Sent ({2+}\r\n/x)\r\n", &GetMetadataArgs{Mailbox: "Sent", Entries: []string{"/x"}, MaxSize: -1}},
		{"a SETMETADATA INBOX (/private/a NIL /private/b \"\" /private/c {2+}\r\nxy /private/d ~{3+}\r\na\x00b)\r\n",
			&SetMetadataArgs{Mailbox: "INBOX", Entries: []MetadataValue{{"/private/a", nil}, {"/private/b", []byte{}}, {"/private/c", []byte("xy")}, {"/private/d", []byte("a\x00b")}}}},
	}
	for _, tc := range tests {
		r := readOne(t, tc.in, ReaderOptions{}, nil)
		if r.err != nil {
			t.Errorf("%q: %v", tc.in, r.err)
			continue
		}
		if !reflect.DeepEqual(r.cmd.Args, tc.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tc.in, r.cmd.Args, tc.want)
		}
	}
	for _, in := range []string{
		"a GETMETADATA INBOX\r\n",
		"a GETMETADATA (DEPTH 2) INBOX /a\r\n",
		"a GETMETADATA (MAXSIZE 1 MAXSIZE 2) INBOX /a\r\n",
		"a GETMETADATA (DEPTH 0 DEPTH 1) INBOX /a\r\n",
		"a GETMETADATA () INBOX /a\r\n",
		"a SETMETADATA INBOX /a \"x\"\r\n",
		"a SETMETADATA INBOX (/a)\r\n",
		"a SETMETADATA INBOX (/a {1+}\r\n\x00)\r\n",
		"a SETMETADATA INBOX (/a x)\r\n",
	} {
		if r := readOne(t, in, ReaderOptions{}, nil); r.err == nil {
			t.Errorf("%q: parsed as %#v", in, r.cmd.Args)
		}
	}
}

// TestParseNotify: NOTIFY SET and NONE (RFC 5465 §8).
func TestParseNotify(t *testing.T) {
	r := readOne(t, "a NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER]) MessageExpunge)) (subtree (INBOX Lists) (mailboxname)) (MAILBOXES x NONE) (personal (Other))\r\n", ReaderOptions{}, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := &NotifyArgs{Status: true, Groups: []NotifyGroup{
		{Filter: "SELECTED", Events: []NotifyEvent{{Name: "MessageNew", Fetch: []FetchItem{{Name: "UID"}, {Name: "BODY", Peek: true, Section: &Section{Specifier: "HEADER"}}}}, {Name: "MessageExpunge"}}},
		{Filter: "SUBTREE", Mailboxes: []string{"INBOX", "Lists"}, Events: []NotifyEvent{{Name: "MailboxName"}}},
		{Filter: "MAILBOXES", Mailboxes: []string{"x"}},
		{Filter: "PERSONAL", Events: []NotifyEvent{{Name: "Other"}}},
	}}
	if !reflect.DeepEqual(r.cmd.Args, want) {
		t.Fatalf("got %#v\nwant %#v", r.cmd.Args, want)
	}
	if r := readOne(t, "a NOTIFY NONE\r\n", ReaderOptions{}, nil); r.err != nil || !r.cmd.Args.(*NotifyArgs).None {
		t.Fatalf("NONE: %#v, %v", r.cmd, r.err)
	}
	for _, in := range []string{
		"a NOTIFY\r\n",
		"a NOTIFY SET\r\n",
		"a NOTIFY SET (PERSONAL)\r\n",
		"a NOTIFY SET (PERSONAL ())\r\n",
		"a NOTIFY SET (NOWHERE (MessageNew))\r\n",
		"a NOTIFY SET (SUBTREE (MessageNew))\r\n",
		"a NOTIFY SET (PERSONAL (MessageNew ()))\r\n",
		"a NOTIFY NONE x\r\n",
		"a NOTIFY SET (PERSONAL NONE) \r\n",
	} {
		if r := readOne(t, in, ReaderOptions{}, nil); r.err == nil {
			t.Errorf("%q: parsed as %#v", in, r.cmd.Args)
		}
	}
}
