package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func render(utf8 bool, f func(w *Writer)) string {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	w := NewWriter(bw)
	w.SetUTF8(utf8)
	f(w)
	bw.Flush()
	return b.String()
}

func TestWriter(t *testing.T) {
	zone := time.FixedZone("", -7*3600)
	for _, tt := range []struct {
		name string
		utf8 bool
		f    func(w *Writer)
		want string
	}{
		{"atom number", false, func(w *Writer) { w.Star(); w.Number(23); w.SP(); w.Atom("EXISTS"); w.CRLF() }, "* 23 EXISTS\r\n"},
		{"untagged number", false, func(w *Writer) { w.UntaggedNumber(4294967296, "EXPUNGE") }, "* 4294967296 EXPUNGE\r\n"},
		{"untagged", false, func(w *Writer) { w.Untagged("OK [UIDNEXT 4] next\r\n* BYE") }, "* OK [UIDNEXT 4] next  * BYE\r\n"},
		{"quoted", false, func(w *Writer) { w.String(`say "hi" \o/`) }, `"say \"hi\" \\o/"`},
		{"empty string", false, func(w *Writer) { w.String("") }, `""`},
		{"crlf literal", false, func(w *Writer) { w.String("a\r\nb") }, "{4}\r\na\r\nb"},
		// RFC 9051 §4.3: no string, not even a literal, carries NUL.
		{"nul replaced", false, func(w *Writer) { w.String("a\x00") }, "{4}\r\na\uFFFD"},
		{"nul replaced in UTF8 mode", true, func(w *Writer) { w.String("a\x00") }, "\"a\uFFFD\""},
		{"8-bit literal", false, func(w *Writer) { w.String("für") }, "{4}\r\nfür"},
		{"8-bit quoted in UTF8 mode", true, func(w *Writer) { w.String("für") }, `"für"`},
		{"invalid UTF-8 literal in UTF8 mode", true, func(w *Writer) { w.String("f\xfcr") }, "{3}\r\nf\xfcr"},
		{"long literal", false, func(w *Writer) { w.String(strings.Repeat("a", 1025)) }, "{1025}\r\n" + strings.Repeat("a", 1025)},
		{"nstring", false, func(w *Writer) { w.NString(""); w.SP(); w.NString("x"); w.SP(); w.Nil() }, `NIL "x" NIL`},
		{"list", false, func(w *Writer) { w.Open(); w.Atom("A"); w.SP(); w.Quoted("b"); w.Close() }, `(A "b")`},
		{"mailbox inbox", false, func(w *Writer) { w.Mailbox("INBOX") }, "INBOX"},
		{"mailbox mutf7", false, func(w *Writer) { w.Mailbox("Entwürfe/a&b") }, `"Entw&APw-rfe/a&-b"`},
		{"mailbox utf8", true, func(w *Writer) { w.Mailbox("Entwürfe/a&b") }, `"Entwürfe/a&b"`},
		{"mailbox quotes", false, func(w *Writer) { w.Mailbox(`a"b`) }, `"a\"b"`},
		{"seqset", false, func(w *Writer) { w.SeqSet(set("1:3,5,7:*")); w.SP(); w.SeqSet(SeqSet{Saved: true}) }, "1:3,5,7:* $"},
		{"flags", false, func(w *Writer) { w.Flags([]string{`\Seen`, "$Forwarded"}); w.Flags(nil) }, `(\Seen $Forwarded)()`},
		{"datetime", false, func(w *Writer) { w.DateTime(time.Date(1996, 7, 7, 2, 44, 25, 0, zone)) }, `"07-Jul-1996 02:44:25 -0700"`},
		{"ok with code", false, func(w *Writer) { w.StatusResponse("A003", "OK", "APPENDUID 38505 3955", "APPEND completed") }, "A003 OK [APPENDUID 38505 3955] APPEND completed\r\n"},
		{"untagged bye", false, func(w *Writer) { w.StatusResponse("", "BYE", "", "logging out") }, "* BYE logging out\r\n"},
		{"no text", false, func(w *Writer) { w.StatusResponse("a", "NO", "TOOBIG", "") }, "a NO [TOOBIG] NO\r\n"},
		{"injection", false, func(w *Writer) { w.StatusResponse("a", "BAD", "", "unknown command x\r\na OK\x00") }, "a BAD unknown command x  a OK \r\n"},
		{"continuation", false, func(w *Writer) { w.Continuation("Ready for literal data") }, "+ Ready for literal data\r\n"},
		{"challenge", false, func(w *Writer) { w.ContinuationBase64([]byte("r=abc,s=xyz")) }, "+ cj1hYmMscz14eXo=\r\n"},
		{"empty challenge", false, func(w *Writer) { w.ContinuationBase64(nil) }, "+ \r\n"},
		{"fetch item plain", false, func(w *Writer) { w.FetchItemName(FetchItem{Name: "RFC822.SIZE"}) }, "RFC822.SIZE"},
		{"fetch item body peek partial", false, func(w *Writer) {
			w.FetchItemName(FetchItem{Name: "BODY", Peek: true, Section: &Section{}, Partial: &Partial{100, 50}})
		}, "BODY[]<100>"},
		{"fetch item fields", false, func(w *Writer) {
			w.FetchItemName(FetchItem{Name: "BODY", Section: &Section{Part: []int{1, 2}, Specifier: "HEADER.FIELDS.NOT", Fields: []string{"From", "X Odd", ""}}})
		}, `BODY[1.2.HEADER.FIELDS.NOT (From "X Odd" "")]`},
		{"fetch item mime", false, func(w *Writer) {
			w.FetchItemName(FetchItem{Name: "BODY", Section: &Section{Part: []int{3}, Specifier: "MIME"}})
		}, "BODY[3.MIME]"},
		{"fetch item text", false, func(w *Writer) { w.FetchItemName(FetchItem{Name: "BODY", Section: &Section{Specifier: "TEXT"}}) }, "BODY[TEXT]"},
		{"fetch item binary size", false, func(w *Writer) {
			w.FetchItemName(FetchItem{Name: "BINARY.SIZE", Section: &Section{Part: []int{1}}})
		}, "BINARY.SIZE[1]"},
		{"fetch item binary partial", false, func(w *Writer) {
			w.FetchItemName(FetchItem{Name: "BINARY", Peek: true, Section: &Section{Part: []int{2}}, Partial: &Partial{0, 9}})
		}, "BINARY[2]<0>"},
		{"raw", false, func(w *Writer) { w.Raw("* SEARCH 2 3 6\r\n") }, "* SEARCH 2 3 6\r\n"},
	} {
		if got := render(tt.utf8, tt.f); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLiteral(t *testing.T) {
	got := render(false, func(w *Writer) {
		if err := w.Literal(5, strings.NewReader("hello world")); err != nil {
			t.Error(err)
		}
		if err := w.Literal8(2, strings.NewReader("\x00\x01")); err != nil {
			t.Error(err)
		}
	})
	if want := "{5}\r\nhello~{2}\r\n\x00\x01"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	render(false, func(w *Writer) {
		if err := w.Literal(5, strings.NewReader("abc")); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("short source: %v", err)
		}
	})
}

func BenchmarkWriteFetchFlags(b *testing.B) {
	bw := bufio.NewWriter(io.Discard)
	w := NewWriter(bw)
	flags := []string{`\Seen`, `\Answered`, "$Forwarded"}
	b.ReportAllocs()
	for b.Loop() {
		// One FETCH response per message of a 100,000-message mailbox.
		for n := uint64(1); n <= 100000; n++ {
			w.Star()
			w.Number(n)
			w.Atom(" FETCH (UID ")
			w.Number(n + 1000)
			w.Atom(" FLAGS ")
			w.Flags(flags)
			w.Close()
			w.CRLF()
		}
	}
	bw.Flush()
}
