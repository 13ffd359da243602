package imap

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestACLCommands: the arguments of the RFC 4314 commands (§7 grammar)
// and LIST RETURN (MYRIGHTS) (RFC 8440 §4).
func TestACLCommands(t *testing.T) {
	opts := ReaderOptions{MaxAppend: 1 << 20}
	for _, tc := range []struct {
		in   string
		want any
	}{
		{"a SETACL INBOX bob@example.org lrs\r\n", &ACLArgs{Mailbox: "INBOX", Identifier: "bob@example.org", Rights: "lrs"}},
		{"a SETACL Shared -bob@example.org +wc\r\n", &ACLArgs{Mailbox: "Shared", Identifier: "-bob@example.org", Rights: "wc", Op: ACLAdd}},
		{"a SETACL \"A b\" anyone -r\r\n", &ACLArgs{Mailbox: "A b", Identifier: "anyone", Rights: "r", Op: ACLRemove}},
		{"a SETACL x anyone \"\"\r\n", &ACLArgs{Mailbox: "x", Identifier: "anyone"}},
		{"a SETACL x {6+}\r\nanyone {1+}\r\nl\r\n", &ACLArgs{Mailbox: "x", Identifier: "anyone", Rights: "l"}},
		{"a DELETEACL inbox bob@example.org\r\n", &ACLArgs{Mailbox: "INBOX", Identifier: "bob@example.org"}},
		{"a GETACL \"Other Users/bob@example.org/Shared\"\r\n", &ACLArgs{Mailbox: "Other Users/bob@example.org/Shared"}},
		{"a LISTRIGHTS Shared anyone\r\n", &ACLArgs{Mailbox: "Shared", Identifier: "anyone"}},
		{"a MYRIGHTS &AOk-t&AOk-\r\n", &ACLArgs{Mailbox: "été"}},
		{"a LIST \"\" * RETURN (MYRIGHTS)\r\n", &ListArgs{Reference: "", Patterns: []string{"*"}, ReturnMyRights: true, Extended: true}},
	} {
		r := readOne(t, tc.in, opts, nil)
		if r.err != nil {
			t.Errorf("%q: %v", tc.in, r.err)
			continue
		}
		if !reflect.DeepEqual(r.cmd.Args, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.in, r.cmd.Args, tc.want)
		}
	}
	for _, tc := range []struct{ in, text string }{
		{"a GETACL\r\n", "expected a space"},
		{"a MYRIGHTS x y\r\n", "unexpected characters"},
		{"a SETACL x anyone\r\n", "expected a space"},
		{"a DELETEACL x\r\n", "expected a space"},
		{"a LISTRIGHTS x anyone lr\r\n", "unexpected characters"},
		{"a SETACL x " + strings.Repeat("a", 321) + " l\r\n", "identifier too long"},
		{"a SETACL x anyone +" + strings.Repeat("l", 65) + "\r\n", "rights too long"},
	} {
		r := readOne(t, tc.in, opts, nil)
		var pe *ParseError
		if !errors.As(r.err, &pe) || pe.Status != "BAD" || !strings.Contains(pe.Text, tc.text) {
			t.Errorf("%q: got %v, want BAD %q", tc.in, r.err, tc.text)
		}
	}
}
