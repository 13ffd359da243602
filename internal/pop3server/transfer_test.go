package pop3server

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

// send runs a dotWriter over msg read in chunks of chunk octets and
// returns what it wrote and its count; it also checks that counting alone
// gives the same count.
func send(t testing.TB, msg string, bodyLines int64, chunk int) (string, int64) {
	t.Helper()
	var out bytes.Buffer
	d := newDotWriter(&out, bodyLines)
	r := iotest.HalfReader(strings.NewReader(msg)) // short reads, too
	if err := d.copyFrom(r, make([]byte, chunk)); err != nil {
		t.Fatal(err)
	}
	c := newDotWriter(nil, bodyLines)
	if err := c.copyFrom(strings.NewReader(msg), make([]byte, chunk)); err != nil {
		t.Fatal(err)
	}
	if c.n != d.n {
		t.Fatalf("counting gives %d octets, sending %d", c.n, d.n)
	}
	return out.String(), d.n
}

func TestDotWriter(t *testing.T) {
	tests := []struct {
		name  string
		msg   string
		lines int64 // TOP's n; -1 for RETR
		want  string
		n     int64
	}{
		{"empty", "", -1, ".\r\n", 0},
		{"crlf", "A: b\r\n\r\nbody\r\n", -1, "A: b\r\n\r\nbody\r\n.\r\n", 14},
		{"no final line end", "A: b\r\n\r\nbody", -1, "A: b\r\n\r\nbody\r\n.\r\n", 14},
		{"bare LF", "A: b\n\nbody\n", -1, "A: b\r\n\r\nbody\r\n.\r\n", 14},
		{"mixed", "A: b\r\n\nx\ny\r\n", -1, "A: b\r\n\r\nx\r\ny\r\n.\r\n", 14},
		{"dots", ".\r\n..\r\n.x\r\nx.\r\n", -1, "..\r\n...\r\n..x\r\nx.\r\n.\r\n", 15},
		{"dot after bare LF", "a\n.\n", -1, "a\r\n..\r\n.\r\n", 6},
		{"dot ending", "a\r\n.", -1, "a\r\n..\r\n.\r\n", 6},
		{"bare CR is content", "a\rb\r\n\r.\r\n", -1, "a\rb\r\n\r.\r\n.\r\n", 9},
		{"CR at the end", "a\r", -1, "a\r\r\n.\r\n", 4},
		{"CR CR LF", "a\r\r\n", -1, "a\r\r\n.\r\n", 4},
		{"top 0", "A: b\r\nC: d\r\n\r\n1\r\n2\r\n", 0, "A: b\r\nC: d\r\n\r\n.\r\n", 14},
		{"top 1", "A: b\r\n\r\n1\r\n.2\r\n3\r\n", 1, "A: b\r\n\r\n1\r\n.\r\n", 11},
		{"top 2 stuffed", "A: b\n\n1\n.2\n3\n", 2, "A: b\r\n\r\n1\r\n..2\r\n.\r\n", 15},
		{"top beyond the end", "A: b\r\n\r\n1", 5, "A: b\r\n\r\n1\r\n.\r\n", 11},
		{"top without body", "A: b\r\nC: d\r\n", 0, "A: b\r\nC: d\r\n.\r\n", 12},
		{"top blank line only", "A: b\r\n\r\n", 3, "A: b\r\n\r\n.\r\n", 8},
		{"top: a lone CR is no blank line", "A: b\r\n\r\r\nx\r\n\r\ny\r\nz\r\n", 1, "A: b\r\n\r\r\nx\r\n\r\ny\r\n.\r\n", 17},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 2, 3, 7, 4096} {
			got, n := send(t, tc.msg, tc.lines, chunk)
			if got != tc.want || n != tc.n {
				t.Errorf("%s (chunks of %d): got %q (%d octets), want %q (%d octets)", tc.name, chunk, got, n, tc.want, tc.n)
			}
		}
	}
}

// reference is what a multi-line reply of msg must carry, computed on the
// whole message at once: line ends made CRLF, the TOP limit applied,
// stuffing not applied.
func reference(msg string, bodyLines int64) string {
	var b strings.Builder
	inBody := false
	var lines int64
	for msg != "" {
		line, rest, found := strings.Cut(msg, "\n")
		msg = rest
		if !found {
			b.WriteString(line + "\r\n")
			break
		}
		content := strings.TrimSuffix(line, "\r")
		b.WriteString(content + "\r\n")
		if !inBody {
			if content == "" {
				inBody = true
				if bodyLines == 0 {
					break
				}
			}
			continue
		}
		if lines++; bodyLines >= 0 && lines >= bodyLines {
			break
		}
	}
	return b.String()
}

// checkReply checks the invariants of a multi-line reply body for msg.
func checkReply(t *testing.T, msg string, bodyLines int64, out string, n int64) {
	t.Helper()
	if !strings.HasSuffix(out, ".\r\n") {
		t.Fatalf("no terminator: %q", out)
	}
	// The only CRLF "." CRLF is the terminator, and no LF is bare.
	if i := strings.Index("\r\n"+out, "\r\n.\r\n"); i != len(out)-3 {
		t.Fatalf("terminator at %d of %q", i, out)
	}
	for i := 0; i < len(out); i++ {
		if out[i] == '\n' && (i == 0 || out[i-1] != '\r') {
			t.Fatalf("bare LF at %d of %q", i, out)
		}
	}
	got := unstuff(out[:len(out)-3])
	if want := reference(msg, bodyLines); got != want {
		t.Fatalf("message %q (lines %d): unstuffed reply %q, want %q", msg, bodyLines, got, want)
	}
	if int64(len(got)) != n {
		t.Fatalf("count %d, but %d octets sent", n, len(got))
	}
}

// FuzzTransfer checks dotWriter against reference on arbitrary messages,
// line limits and read sizes.
func FuzzTransfer(f *testing.F) {
	f.Add("A: b\r\n\r\nbody\r\n", int64(-1), uint8(3))
	f.Add(".\n..\r\n\r.\r\r\n", int64(-1), uint8(1))
	f.Add("A: b\n\n1\n.2\n3", int64(2), uint8(2))
	f.Add("A\r\n\r\n\r\n.\r\n", int64(0), uint8(200))
	f.Fuzz(func(t *testing.T, msg string, bodyLines int64, chunk uint8) {
		if bodyLines < -1 {
			bodyLines = -1
		}
		out, n := send(t, msg, bodyLines, int(chunk)+1)
		checkReply(t, msg, bodyLines, out, n)
	})
}
