package imap

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
)

// catWriter records what a CatenateWriter is given, in order.
type catWriter struct {
	log    []string
	urlErr error // returned by URL for "bad"
}

func (c *catWriter) Text(size int64, binary bool) error {
	c.log = append(c.log, fmt.Sprintf("text %d %v", size, binary))
	return nil
}

func (c *catWriter) Write(p []byte) (int, error) {
	c.log = append(c.log, "write "+string(p))
	return len(p), nil
}

func (c *catWriter) URL(u string) error {
	c.log = append(c.log, "url "+u)
	if u == "bad" {
		return c.urlErr
	}
	return nil
}

// readCat reads one command with CATENATE on.
func readCat(t *testing.T, in string, opts ReaderOptions) (*Command, error, []*catWriter, int, string, bool) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(in))
	r := newTestReader(br, opts)
	var ws []*catWriter
	r.SetCatenate(func() (CatenateWriter, error) {
		w := &catWriter{urlErr: &ParseError{Status: "NO", Code: "BADURL bad", Text: "no"}}
		ws = append(ws, w)
		return w, nil
	})
	conts := 0
	var replacing bool
	cmd, err := r.ReadCommand(func() error { conts++; return nil }, func(int64, bool) (io.Writer, error) {
		replacing = r.Replacing() != nil
		return io.Discard, nil
	})
	rest, _ := io.ReadAll(br)
	return cmd, err, ws, conts, string(rest), replacing
}

func TestReadCatenate(t *testing.T) {
	in := "a APPEND Drafts (\\Draft) CATENATE (TEXT {5}\r\nhello URL \"/INBOX/;UID=1\" TEXT ~{2+}\r\n\x00! URL x UTF8 (~{1+}\r\n.)) {2+}\r\nhi\r\nnext NOOP\r\n"
	cmd, err, ws, conts, rest, _ := readCat(t, in, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := cmd.Args.(*AppendArgs)
	if len(a.Messages) != 2 || len(ws) != 1 || !a.Messages[0].Catenate || a.Messages[1].Catenate {
		t.Fatalf("got %s and %d writers", dump(cmd), len(ws))
	}
	m := a.Messages[0]
	if m.Sink != CatenateWriter(ws[0]) || m.Size != 8 || !m.Binary || !reflect.DeepEqual(m.Flags, []string{`\Draft`}) {
		t.Fatalf("message %+v", m)
	}
	want := []string{"text 5 false", "write hello", "url /INBOX/;UID=1", "text 2 true", "write \x00!", "url x", "text 1 true", "write ."}
	if !reflect.DeepEqual(ws[0].log, want) {
		t.Fatalf("parts %q, want %q", ws[0].log, want)
	}
	if conts != 1 || rest != "next NOOP\r\n" {
		t.Fatalf("%d continuations, rest %q", conts, rest)
	}
}

func TestReadCatenateErrors(t *testing.T) {
	small := ReaderOptions{MaxAppend: 20}
	tests := []struct {
		name, in           string
		status, code, text string
		conts              int
		rest               string // left after the refusal
	}{
		// A refused URL ends the command before the next literal's
		// continuation; the client sends nothing more.
		{"bad url then sync literal", "a APPEND INBOX CATENATE (URL bad TEXT {3}\r\n", "NO", "BADURL bad", "no", 0, ""},
		// Non-synchronizing literals after it are read and dropped.
		{"bad url then literal+", "a APPEND INBOX CATENATE (URL bad TEXT {3+}\r\nabc)\r\n", "NO", "BADURL bad", "no", 0, ""},
		{"text too big", "a APPEND INBOX CATENATE (TEXT {21}\r\n", "NO", "TOOBIG", "APPENDLIMIT 20", 0, ""},
		{"unknown part", "a APPEND INBOX CATENATE (BODY x)\r\n", "BAD", "", "expected TEXT or URL", 0, ""},
		{"empty", "a APPEND INBOX CATENATE ()\r\n", "BAD", "", "empty list", 0, ""},
		{"no list", "a APPEND INBOX CATENATE URL x\r\n", "BAD", "", `expected '('`, 0, ""},
		{"utf8 needs literal8", "a APPEND INBOX CATENATE (UTF8 ({1+}\r\nx))\r\n", "BAD", "", "literal8", 0, ""},
		{"nul in text", "a APPEND INBOX CATENATE (TEXT {1+}\r\n\x00)\r\n", "BAD", "", "NUL", 0, ""},
		{"url too long", "a APPEND INBOX CATENATE (URL \"" + strings.Repeat("u", MaxURLLength+1) + "\")\r\n", "BAD", "", "URL too long", 0, ""},
		{"too many parts", "a APPEND INBOX CATENATE (" + strings.TrimSpace(strings.Repeat("URL u ", MaxCatenateParts+1)) + ")\r\n", "NO", "LIMIT", "too many CATENATE parts", 0, ""},
		{"replace star star", "a UID REPLACE ** INBOX {1+}\r\nx\r\n", "BAD", "", "expected a space", 0, ""},
		{"replace zero", "a REPLACE 0 INBOX {1+}\r\nx\r\n", "BAD", "", "0 is not allowed", 0, ""},
		{"replace two messages", "a REPLACE 1 INBOX {1+}\r\nx {1+}\r\ny\r\n", "BAD", "", "unexpected characters", 0, ""},
		{"replace no message", "a REPLACE 1 INBOX\r\n", "BAD", "", "expected a space", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := small
			if tt.name == "url too long" || tt.name == "too many parts" {
				opts = ReaderOptions{}
			}
			_, err, _, conts, rest, _ := readCat(t, tt.in+"next NOOP\r\n", opts)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v", err)
			}
			if pe.Tag != "a" || pe.Status != tt.status || pe.Code != tt.code || !strings.Contains(pe.Text, tt.text) {
				t.Fatalf("got %+v", pe)
			}
			if conts != tt.conts {
				t.Errorf("%d continuations", conts)
			}
			// A refused synchronizing literal leaves the line for the
			// next command; everything else was consumed.
			if rest != tt.rest+"next NOOP\r\n" {
				t.Errorf("rest %q", rest)
			}
		})
	}
}

func TestReadReplace(t *testing.T) {
	tests := []struct {
		in   string
		uid  bool
		num  uint32
		cat  bool
		body string
	}{
		{"a REPLACE 4 Drafts (\\Seen) {2+}\r\nhi\r\n", false, 4, false, ""},
		{"a replace * Drafts {2+}\r\nhi\r\n", false, 0, false, ""},
		{"a uid replace * Drafts {2+}\r\nhi\r\n", true, 0, false, ""},
		{"a UID REPLACE 20 Sent \"01-Jan-2020 10:00:00 +0000\" CATENATE (URL \";UID=20\")\r\n", true, 20, true, ""},
	}
	for _, tt := range tests {
		cmd, err, ws, _, _, replacing := readCat(t, tt.in, ReaderOptions{})
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		a, ok := cmd.Args.(*ReplaceArgs)
		if cmd.Name != "REPLACE" || cmd.UID != tt.uid || !ok || a.Num != tt.num || a.Message.Catenate != tt.cat {
			t.Fatalf("%q: got %s", tt.in, dump(cmd))
		}
		if tt.cat && (len(ws) != 1 || ws[0].log[0] != "url ;UID=20") {
			t.Fatalf("%q: parts %v", tt.in, ws)
		}
		if !tt.cat && !replacing {
			t.Errorf("%q: the sink was not told it receives a REPLACE message", tt.in)
		}
	}
	// An APPEND's sink is not told REPLACE, even after a refused REPLACE.
	br := bufio.NewReader(strings.NewReader("a REPLACE 1 INBOX {1+}\r\nx {1+}\r\ny\r\nb APPEND INBOX {1+}\r\nz\r\n"))
	r := newTestReader(br, ReaderOptions{})
	if _, err := r.ReadCommand(nil, nil); err == nil {
		t.Fatal("two REPLACE messages accepted")
	}
	replacing := true
	if _, err := r.ReadCommand(nil, func(int64, bool) (io.Writer, error) { replacing = r.Replacing() != nil; return io.Discard, nil }); err != nil {
		t.Fatal(err)
	}
	if replacing {
		t.Fatal("APPEND's sink told it receives a REPLACE message")
	}
}

// Without SetCatenate, CATENATE is not APPEND syntax.
func TestCatenateOff(t *testing.T) {
	res := readOne(t, "a APPEND INBOX CATENATE (URL x)\r\n", ReaderOptions{}, nil)
	var pe *ParseError
	if !errors.As(res.err, &pe) || pe.Status != "BAD" {
		t.Fatalf("got %v", res.err)
	}
}

func TestParseSection(t *testing.T) {
	good := map[string]Section{
		"1.2":                     {Part: []int{1, 2}},
		"HEADER":                  {Specifier: "HEADER"},
		"2.mime":                  {Part: []int{2}, Specifier: "MIME"},
		"header.fields (From To)": {Specifier: "HEADER.FIELDS", Fields: []string{"From", "To"}},
		"3.TEXT":                  {Part: []int{3}, Specifier: "TEXT"},
	}
	for in, want := range good {
		got, err := ParseSection(in)
		if err != nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("ParseSection(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "MIME", "1.", "1]", "HEADER.FIELDS ({3}\r\nabc)", "TEXT x", "1.2.BOGUS"} {
		if got, err := ParseSection(in); err == nil {
			t.Errorf("ParseSection(%q) = %+v, want an error", in, got)
		}
	}
}

// FuzzReadCatenate reads command streams with CATENATE on: no panic, no
// command read without consuming input, the parts within their bounds.
func FuzzReadCatenate(f *testing.F) {
	for _, s := range []string{
		"a APPEND Drafts (\\Draft) CATENATE (TEXT {5}\r\nhello URL \"/INBOX/;UID=1\" TEXT ~{2+}\r\n\x00!) {2+}\r\nhi\r\n",
		"a UID REPLACE 20 Sent \"01-Jan-2020 10:00:00 +0000\" CATENATE (URL \";UID=20\" UTF8 (~{1+}\r\n.))\r\n",
		"a REPLACE * INBOX {3}\r\nabc\r\nb APPEND INBOX CATENATE (URL bad TEXT {3+}\r\nabc)\r\n",
	} {
		f.Add([]byte(s))
	}
	opts := ReaderOptions{MaxLine: 200, MaxLiteral: 100, MaxAppend: 1000, MaxDepth: 8, MaxArgs: 50, MaxCommand: 2000}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newTestReader(bufio.NewReaderSize(strings.NewReader(string(data)), 16), opts)
		var w *catWriter
		r.SetCatenate(func() (CatenateWriter, error) {
			w = &catWriter{urlErr: &ParseError{Status: "NO", Code: "BADURL bad", Text: "no"}}
			return w, nil
		})
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatal("commands read without consuming input")
			}
			w = nil
			_, err := r.ReadCommand(nil, nil)
			if w != nil && len(w.log) > 3*MaxCatenateParts {
				t.Fatalf("%d CATENATE calls", len(w.log))
			}
			var pe *ParseError
			if err != nil && !errors.As(err, &pe) {
				return // end of input
			}
		}
	})
}

// Replacing gives the sink the REPLACE so far: its form, the message to
// replace and the target mailbox, before the literal's continuation.
func TestReplacingSoFar(t *testing.T) {
	r := newTestReader(bufio.NewReader(strings.NewReader("a UID REPLACE 7 Drafts (\\Draft) {2}\r\nhi\r\n")), ReaderOptions{})
	var got *Command
	conts := 0
	_, err := r.ReadCommand(func() error { conts++; return nil }, func(int64, bool) (io.Writer, error) {
		if conts != 0 {
			t.Error("sink called after the continuation")
		}
		got = r.Replacing()
		return io.Discard, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("Replacing() = nil in the sink")
	}
	a, ok := got.Args.(*ReplaceArgs)
	if !got.UID || got.Name != "REPLACE" || !ok || a.Num != 7 || a.Mailbox != "Drafts" {
		t.Fatalf("Replacing() = %s", dump(got))
	}
	if r.Replacing() != nil {
		t.Fatal("Replacing() still set after the command")
	}
}
