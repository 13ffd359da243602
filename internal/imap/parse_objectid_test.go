package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestParseObjectIDAndPreview: the syntax of RFC 8474 (FETCH EMAILID and
// THREADID, SEARCH EMAILID and THREADID, STATUS MAILBOXID) and RFC 8970
// (FETCH PREVIEW with its LAZY modifier).
func TestParseObjectIDAndPreview(t *testing.T) {
	id255 := strings.Repeat("a", 255)
	tests := []struct {
		name string
		in   string
		want *Command
	}{
		{"fetch ids", "a FETCH 1:* (EMAILID threadid)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1:*"), Items: items("EMAILID", "THREADID")}}},
		{"fetch emailid alone", "a UID FETCH 3 EMAILID\r\n",
			&Command{Tag: "a", Name: "FETCH", UID: true, Args: &FetchArgs{Set: set("3"), Items: items("EMAILID")}}},
		{"fetch preview", "a FETCH 1 (RFC822.SIZE PREVIEW)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: items("RFC822.SIZE", "PREVIEW")}}},
		{"fetch preview lazy", "a FETCH 1:4 (ENVELOPE PREVIEW (LAZY))\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1:4"), Items: []FetchItem{{Name: "ENVELOPE"}, {Name: "PREVIEW", Lazy: true}}}}},
		{"fetch preview lazy twice, any case", "a FETCH 1 (preview (lazy LAZY) UID)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: []FetchItem{{Name: "PREVIEW", Lazy: true}, {Name: "UID"}}}}},
		{"fetch preview lazy unparenthesized", "a FETCH 1 PREVIEW (LAZY)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: []FetchItem{{Name: "PREVIEW", Lazy: true}}}}},
		{"fetch preview then fetch modifiers", "a FETCH 1 PREVIEW (CHANGEDSINCE 5)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: items("PREVIEW"), ChangedSince: 5}}},
		{"fetch preview lazy then fetch modifiers", "a FETCH 1 PREVIEW (LAZY) (CHANGEDSINCE 5)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: []FetchItem{{Name: "PREVIEW", Lazy: true}}, ChangedSince: 5}}},
		{"search emailid", "a SEARCH EMAILID M6d99ac3275bb4e\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Key: and(val("EMAILID", "M6d99ac3275bb4e"))}}},
		{"search threadid or", "a UID SEARCH OR THREADID T-1_x EMAILID " + id255 + "\r\n",
			&Command{Tag: "a", Name: "SEARCH", UID: true, Args: &SearchArgs{Key: and(key("OR", val("THREADID", "T-1_x"), val("EMAILID", id255)))}}},
		{"status mailboxid", "a STATUS foo (MAILBOXID messages)\r\n",
			&Command{Tag: "a", Name: "STATUS", Args: &StatusArgs{Mailbox: "foo", Items: []string{"MAILBOXID", "MESSAGES"}}}},
		{"list return status mailboxid", "a LIST \"\" % RETURN (STATUS (MAILBOXID))\r\n",
			&Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"%"}, ReturnStatus: []string{"MAILBOXID"}, Extended: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"next NOOP\r\n", ReaderOptions{}, nil)
			if res.err != nil {
				t.Fatalf("error: %v", res.err)
			}
			if !reflect.DeepEqual(res.cmd, tt.want) {
				t.Errorf("got  %s\nwant %s", dump(res.cmd), dump(tt.want))
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("rest %q", res.rest)
			}
		})
	}

	bad := []struct{ name, in, text string }{
		{"objectid too long", "a SEARCH EMAILID " + id255 + "b\r\n", "longer than 255"},
		{"objectid missing", "a SEARCH EMAILID\r\n", "expected a space"},
		{"objectid bad char", "a SEARCH THREADID T.1\r\n", "expected a space near \".1\""},
		{"objectid empty", "a SEARCH THREADID \"\"\r\n", "expected an objectid"},
		{"preview empty modifiers", "a FETCH 1 (PREVIEW ())\r\n", "unknown FETCH item"},
		{"preview unknown modifier", "a FETCH 1 (PREVIEW (LAZY FUZZY))\r\n", "unknown PREVIEW modifier"},
		{"preview modifier unclosed", "a FETCH 1 (PREVIEW (LAZY)\r\n", "expected"},
		{"status unknown", "a STATUS foo (MAILBOXIDS)\r\n", "unknown STATUS item"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"next NOOP\r\n", ReaderOptions{}, nil)
			var pe *ParseError
			if !errors.As(res.err, &pe) || pe.Status != "BAD" || !strings.Contains(pe.Text, tt.text) {
				t.Fatalf("got %s, %v; want BAD containing %q", dump(res.cmd), res.err, tt.text)
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("rest %q", res.rest)
			}
		})
	}
}
