package imapserver

import (
	"bufio"
	"strings"
	"testing"

	"postel/internal/imap"
)

// TestCommandTable checks every entry of the command table is whole, and
// that the parser knows exactly the table's commands and UID forms: its
// grammar is the table.
func TestCommandTable(t *testing.T) {
	for name, c := range commands {
		if c.syntax == nil || c.run == nil || c.states == 0 {
			t.Errorf("%s: incomplete entry (syntax, handler and states are required)", name)
		}
		for _, cp := range c.caps {
			if cp.name == "" && cp.value == nil {
				t.Errorf("%s: a capability without a name", name)
			}
		}
	}
	read := func(line string) error {
		r := imap.NewReader(bufio.NewReader(strings.NewReader(line+"\r\n")), imap.ReaderOptions{Grammar: grammar})
		_, err := r.ReadCommand(func() error { return nil }, nil)
		return err
	}
	if err := read("a FROBNICATE"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("a command outside the table: %v", err)
	}
	for _, line := range []string{"a UID NOOP", "a UID SELECT INBOX", "a UID FROB 1"} {
		if err := read(line); err == nil {
			t.Errorf("%q accepted", line)
		}
	}
	if err := read("a UID EXPUNGE 1:3"); err != nil {
		t.Errorf("UID EXPUNGE: %v", err)
	}
}
