package section

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"postel/internal/imap"
	"postel/internal/message"
	"postel/internal/store"
)

// parsed parses raw as delivery does, and returns its structure as FETCH
// gets it: serialized and read back.
func parsed(t testing.TB, raw []byte) *message.Part {
	t.Helper()
	p, err := message.Parse(bytes.NewReader(raw), int64(len(raw)), message.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalStructure()
	if err != nil {
		t.Fatal(err)
	}
	root, err := message.UnmarshalStructure(b)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readEML(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// sec builds a section from "1.2" and a specifier.
func sec(spec string, path []int, fields ...string) *imap.Section {
	return &imap.Section{Part: path, Specifier: spec, Fields: fields}
}

// readAll reads r and checks that it gives exactly n bytes.
func readAll(t testing.TB, r io.Reader, n int64) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if int64(len(b)) != n {
		t.Fatalf("read %d bytes, size said %d", len(b), n)
	}
	return string(b)
}

type bodyCase struct {
	name string
	sec  *imap.Section
	want string
	err  error
}

func runBody(t *testing.T, raw []byte, cases []bodyCase) {
	t.Helper()
	root := parsed(t, raw)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, n, err := Body(bytes.NewReader(raw), int64(len(raw)), root, c.sec)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, r, n); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

const singleHeader = "Return-Path: <alice@example.org>\r\n" +
	"From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"subject: Hello\r\n folded\r\n\tworld\r\n" +
	"X-Empty:\r\n" +
	"DATE: Mon, 07 Jul 2025 10:00:00 +0000\r\n" +
	"Subject : second subject\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n"

const singleBody = "Caf=C3=A9 cr=C3=A8me =\r\nbr=c3=bbl=C3=A9e.  \t\r\nLine two=20\r\n=3D end, 1=2 and =\r\n"

func TestBodySingle(t *testing.T) {
	raw := readEML(t, "single.eml")
	if string(raw) != singleHeader+singleBody {
		t.Fatal("testdata/single.eml changed")
	}
	runBody(t, raw, []bodyCase{
		{"whole", nil, singleHeader + singleBody, nil},
		{"empty section", sec("", nil), singleHeader + singleBody, nil},
		{"HEADER", sec("HEADER", nil), singleHeader, nil},
		{"TEXT", sec("TEXT", nil), singleBody, nil},
		{"1", sec("", []int{1}), singleBody, nil},
		{"1.MIME", sec("MIME", []int{1}), singleHeader, nil},
		{"lower-case specifier", sec("header", nil), singleHeader, nil},
		{"fields folded, two of them, odd case", sec("HEADER.FIELDS", nil, "SUBJECT"),
			"subject: Hello\r\n folded\r\n\tworld\r\nSubject : second subject\r\n\r\n", nil},
		{"fields in message order", sec("HEADER.FIELDS", nil, "date", "x-empty"),
			"X-Empty:\r\nDATE: Mon, 07 Jul 2025 10:00:00 +0000\r\n\r\n", nil},
		{"fields none match", sec("HEADER.FIELDS", nil, "Nope", "Subjec", "Subjectt"), "\r\n", nil},
		{"fields not", sec("HEADER.FIELDS.NOT", nil, "subject", "Return-Path", "content-type",
			"Content-Transfer-Encoding", "x-EMPTY", "date"),
			"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n\r\n", nil},
		{"fields not, nothing excluded", sec("HEADER.FIELDS.NOT", nil, "X-Other"), singleHeader, nil},
		{"fields non-ASCII fold", sec("HEADER.FIELDS", nil, "\u212Aeturn-Path"), "\r\n", nil},
		{"2", sec("", []int{2}), "", ErrNoPart},
		{"0", sec("", []int{0}), "", ErrNoPart},
		{"1.1", sec("", []int{1, 1}), "", ErrNoPart},
		{"1.HEADER of a text part", sec("HEADER", []int{1}), "", ErrNoPart},
		{"1.TEXT of a text part", sec("TEXT", []int{1}), "", ErrNoPart},
	})
}

func TestBodyMultipart(t *testing.T) {
	raw := readEML(t, "alternative.eml")
	header := "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: Report\r\n" +
		"Date: Tue, 08 Jul 2025 11:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n"
	text := string(raw[len(header):])
	if !strings.HasPrefix(string(raw), header) {
		t.Fatal("testdata/alternative.eml changed")
	}
	part1 := "--alt\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Hello Bob,=0D=0Athe report is attached. =E2=82=AC\r\n--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		"<p>Hello Bob,</p>\r\n--alt--"
	runBody(t, raw, []bodyCase{
		{"HEADER", sec("HEADER", nil), header, nil},
		{"TEXT", sec("TEXT", nil), text, nil},
		{"1 multipart body", sec("", []int{1}), part1, nil},
		{"1.MIME", sec("MIME", []int{1}), "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n", nil},
		{"1.1", sec("", []int{1, 1}), "Hello Bob,=0D=0Athe report is attached. =E2=82=AC", nil},
		{"1.1.MIME", sec("MIME", []int{1, 1}),
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", nil},
		{"1.2", sec("", []int{1, 2}), "<p>Hello Bob,</p>", nil},
		{"2", sec("", []int{2}), "AAEC/v9iaW5hcnkN\r\nCmRhdGEK", nil},
		{"2.MIME", sec("MIME", []int{2}), "Content-Type: application/octet-stream; name=\"data.bin\"\r\n" +
			"Content-Disposition: attachment; filename=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", nil},
		{"fields", sec("HEADER.FIELDS", nil, "Subject", "content-type", "mime-version"),
			"Subject: Report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n", nil},
		{"3", sec("", []int{3}), "", ErrNoPart},
		{"1.3", sec("", []int{1, 3}), "", ErrNoPart},
		{"2.1 of a leaf", sec("", []int{2, 1}), "", ErrNoPart},
		{"1.1.1", sec("", []int{1, 1, 1}), "", ErrNoPart},
	})
	root := parsed(t, raw)
	if _, _, err := Body(bytes.NewReader(raw), int64(len(raw)), root, sec("MIME", nil)); err == nil {
		t.Error("MIME without a part number: no error")
	}
	if _, _, err := Body(bytes.NewReader(raw), int64(len(raw)), root, sec("BOGUS", nil)); err == nil {
		t.Error("unknown specifier: no error")
	}
}

func TestBodyNested(t *testing.T) {
	raw := readEML(t, "nested.eml")
	msg2Header := "From: Alice <alice@example.org>\r\nSubject: Photo\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n"
	msg2Text := "--inner\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"bGluZSBvbmUKbGluZSB0d28K\r\n--inner\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: BASE64\r\n\r\n" +
		"iVBORw0K !\r\nGgoAAAANSUhEUg==\r\n--inner--"
	msg3Header := "From: Dan <dan@example.com>\r\nSubject: Short\r\n\r\n"
	runBody(t, raw, []bodyCase{
		{"1", sec("", []int{1}), "See the forwarded messages.", nil},
		{"2", sec("", []int{2}), msg2Header + msg2Text, nil},
		{"2.MIME", sec("MIME", []int{2}), "Content-Type: message/rfc822\r\nContent-Description: first\r\n\r\n", nil},
		{"2.HEADER", sec("HEADER", []int{2}), msg2Header, nil},
		{"2.TEXT", sec("TEXT", []int{2}), msg2Text, nil},
		{"2.HEADER.FIELDS", sec("HEADER.FIELDS", []int{2}, "subject"), "Subject: Photo\r\n\r\n", nil},
		{"2.HEADER.FIELDS.NOT", sec("HEADER.FIELDS.NOT", []int{2}, "subject", "content-type"),
			"From: Alice <alice@example.org>\r\n\r\n", nil},
		{"2.1", sec("", []int{2, 1}), "bGluZSBvbmUKbGluZSB0d28K", nil},
		{"2.1.MIME", sec("MIME", []int{2, 1}),
			"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\n", nil},
		{"2.2", sec("", []int{2, 2}), "iVBORw0K !\r\nGgoAAAANSUhEUg==", nil},
		{"3", sec("", []int{3}), msg3Header + "Just text.", nil},
		{"3.HEADER", sec("HEADER", []int{3}), msg3Header, nil},
		{"3.TEXT", sec("TEXT", []int{3}), "Just text.", nil},
		{"3.1 body of a single-part message", sec("", []int{3, 1}), "Just text.", nil},
		{"3.1.MIME header of a single-part message", sec("MIME", []int{3, 1}), msg3Header, nil},
		{"2.3", sec("", []int{2, 3}), "", ErrNoPart},
		{"3.2", sec("", []int{3, 2}), "", ErrNoPart},
		{"3.1.1", sec("", []int{3, 1, 1}), "", ErrNoPart},
		{"2.1.HEADER", sec("HEADER", []int{2, 1}), "", ErrNoPart},
		{"1.TEXT", sec("TEXT", []int{1}), "", ErrNoPart},
		{"4", sec("", []int{4}), "", ErrNoPart},
	})
}

func TestBodyLF(t *testing.T) {
	raw := readEML(t, "lf.eml")
	runBody(t, raw, []bodyCase{
		{"HEADER", sec("HEADER", nil), "From: Eve <eve@example.org>\nSubject: LF only\nContent-Type: multipart/alternative; boundary=b\n\n", nil},
		{"fields", sec("HEADER.FIELDS", nil, "SUBJECT"), "Subject: LF only\n\n", nil},
		{"fields not", sec("HEADER.FIELDS.NOT", nil, "content-type"), "From: Eve <eve@example.org>\nSubject: LF only\n\n", nil},
		{"1", sec("", []int{1}), "Gr=FC=DFe\nzweite Zeile", nil},
		{"1.MIME", sec("MIME", []int{1}), "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n", nil},
		{"2", sec("", []int{2}), "<p>Gr\xfc\xdfe</p>", nil},
	})
}

func TestBodyNoBlankLine(t *testing.T) {
	raw := readEML(t, "nobody.eml")
	runBody(t, raw, []bodyCase{
		{"HEADER", sec("HEADER", nil), "Subject: no body\r\nFrom: x@example.org", nil},
		{"fields last, no line break", sec("HEADER.FIELDS", nil, "from"), "From: x@example.org", nil},
		{"fields first", sec("HEADER.FIELDS", nil, "subject"), "Subject: no body\r\n", nil},
		{"TEXT", sec("TEXT", nil), "", nil},
		{"1", sec("", []int{1}), "", nil},
	})
	runBody(t, []byte("\r\nbody only\r\n"), []bodyCase{
		{"empty header", sec("HEADER", nil), "\r\n", nil},
		{"empty header fields", sec("HEADER.FIELDS", nil, "subject"), "\r\n", nil},
		{"empty header fields not", sec("HEADER.FIELDS.NOT", nil, "subject"), "\r\n", nil},
		{"TEXT", sec("TEXT", nil), "body only\r\n", nil},
	})
	runBody(t, []byte(""), []bodyCase{
		{"whole empty", nil, "", nil},
		{"fields of empty", sec("HEADER.FIELDS", nil, "subject"), "", nil},
	})
}

func TestBodyTopLevelMessage(t *testing.T) {
	// RFC 9051 §6.4.5: the single part of this message is a
	// message/rfc822, whose own parts are numbered below it.
	raw := []byte("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\nbody\r\n")
	runBody(t, raw, []bodyCase{
		{"HEADER", sec("HEADER", nil), "Content-Type: message/rfc822\r\n\r\n", nil},
		{"1", sec("", []int{1}), "Subject: inner\r\nContent-Type: text/plain\r\n\r\nbody\r\n", nil},
		{"1.HEADER", sec("HEADER", []int{1}), "Subject: inner\r\nContent-Type: text/plain\r\n\r\n", nil},
		{"1.HEADER.FIELDS", sec("HEADER.FIELDS", []int{1}, "Subject"), "Subject: inner\r\n\r\n", nil},
		{"1.TEXT", sec("TEXT", []int{1}), "body\r\n", nil},
		{"1.1", sec("", []int{1, 1}), "body\r\n", nil},
		{"1.2", sec("", []int{1, 2}), "", ErrNoPart},
	})
}

func TestBodyFieldsMalformed(t *testing.T) {
	raw := []byte(" leading continuation\r\nno colon here\r\nA:1\r\n\tcont\r\n:empty name\r\nB : 2\r\n\r\n")
	runBody(t, raw, []bodyCase{
		{"fields", sec("HEADER.FIELDS", nil, "a", "b", ""), "A:1\r\n\tcont\r\nB : 2\r\n\r\n", nil},
		{"fields not", sec("HEADER.FIELDS.NOT", nil, "A", "B"),
			" leading continuation\r\nno colon here\r\n:empty name\r\n\r\n", nil},
	})
}

func TestBodyFieldsBounded(t *testing.T) {
	defer func(n int64) { maxHeaderBytes = n }(maxHeaderBytes)
	head := "A: 1\r\nB: 2\r\n folded\r\nC: 3\r\n" // 6 + 15 + 6 bytes
	raw := []byte(head + "\r\nbody")
	root := parsed(t, raw)
	for _, c := range []struct {
		limit int64
		want  string
	}{
		{100, "A: 1\r\nB: 2\r\n folded\r\nC: 3\r\n\r\n"},
		{int64(len(head)), "A: 1\r\nB: 2\r\n folded\r\nC: 3\r\n\r\n"},
		{int64(len(head)) - 1, "A: 1\r\nB: 2\r\n folded\r\n\r\n"}, // C cut
		{12, "A: 1\r\n\r\n"}, // B continues past the limit
		{20, "A: 1\r\n\r\n"}, // B's continuation cut
		{23, "A: 1\r\nB: 2\r\n folded\r\n\r\n"},
		{3, "\r\n"},
	} {
		maxHeaderBytes = c.limit
		r, n, err := Body(bytes.NewReader(raw), int64(len(raw)), root, sec("HEADER.FIELDS.NOT", nil, "x"))
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, r, n); got != c.want {
			t.Errorf("limit %d: got %q, want %q", c.limit, got, c.want)
		}
	}
}

func TestBodyBadStructure(t *testing.T) {
	raw := readEML(t, "alternative.eml")
	root := parsed(t, raw)
	// A structure that reaches past the message must not be served.
	if _, _, err := Body(bytes.NewReader(raw), int64(len(raw))-1, root, sec("TEXT", nil)); !errors.Is(err, ErrStructure) {
		t.Errorf("TEXT past the end: %v", err)
	}
	if _, _, err := Body(bytes.NewReader(raw), 10, root, sec("", []int{2})); !errors.Is(err, ErrStructure) {
		t.Errorf("part past the end: %v", err)
	}
	if _, _, err := Body(bytes.NewReader(raw), int64(len(raw)), nil, nil); !errors.Is(err, ErrStructure) {
		t.Errorf("nil root: %v", err)
	}
	// A reader shorter than the size it was given fails on reading the
	// header fields, and never returns them short.
	if _, _, err := Body(bytes.NewReader(raw[:50]), int64(len(raw)), root, sec("HEADER.FIELDS", nil, "subject")); err == nil {
		t.Error("short reader: no error")
	}
}

// memBlob is a store.Blob in memory.
type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error { return nil }

func TestBodyStoreReader(t *testing.T) {
	// The server serves prefix + body; offsets are relative to that.
	prefix := []byte("Return-Path: <x@example.org>\r\nReceived: from a by b\r\n")
	body := readEML(t, "nested.eml")
	full := append(append([]byte{}, prefix...), body...)
	root := parsed(t, full)
	mr := store.NewMessageReader(prefix, memBlob{bytes.NewReader(body)})
	defer mr.Close()
	r, n, err := Body(mr, mr.Size(), root, sec("HEADER.FIELDS", nil, "return-path", "subject"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := readAll(t, r, n), "Return-Path: <x@example.org>\r\nSubject: Fwd: two messages\r\n\r\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r, n, err = Body(mr, mr.Size(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r, n); got != string(full) {
		t.Error("whole message differs")
	}
}

func TestPartial(t *testing.T) {
	const text = "0123456789"
	for _, c := range []struct {
		p    *imap.Partial
		want string
	}{
		{nil, text},
		{&imap.Partial{Offset: 0, Count: 4}, "0123"},
		{&imap.Partial{Offset: 3, Count: 4}, "3456"},
		{&imap.Partial{Offset: 0, Count: 10}, text},
		{&imap.Partial{Offset: 0, Count: 2048}, text}, // truncated, still a partial
		{&imap.Partial{Offset: 7, Count: 10}, "789"},
		{&imap.Partial{Offset: 9, Count: 1}, "9"},
		{&imap.Partial{Offset: 10, Count: 1}, ""}, // origin at the end
		{&imap.Partial{Offset: 11, Count: 5}, ""}, // origin beyond the end
		{&imap.Partial{Offset: 1 << 40, Count: 5}, ""},
		{&imap.Partial{Offset: 2, Count: 0}, ""},
		{&imap.Partial{Offset: -1, Count: 2}, "01"},
		{&imap.Partial{Offset: 2, Count: -1}, ""},
	} {
		// A seeker (as Body returns) and a plain reader (as Binary returns).
		for _, src := range []io.Reader{strings.NewReader(text), iotest.OneByteReader(strings.NewReader(text))} {
			r, n := Partial(src, int64(len(text)), c.p)
			if got := readAll(t, r, n); got != c.want {
				t.Errorf("%+v: got %q, want %q", c.p, got, c.want)
			}
		}
	}
}

func TestPartialOfBody(t *testing.T) {
	raw := readEML(t, "alternative.eml")
	root := parsed(t, raw)
	r, n, err := Body(bytes.NewReader(raw), int64(len(raw)), root, sec("", []int{2}))
	if err != nil {
		t.Fatal(err)
	}
	r, n = Partial(r, n, &imap.Partial{Offset: 5, Count: 8})
	if got := readAll(t, r, n); got != "v9iaW5hc" {
		t.Errorf("got %q", got)
	}
	// A short source is an error, not a short literal gone unnoticed.
	r, n = Partial(strings.NewReader("abc"), 10, &imap.Partial{Offset: 1, Count: 5})
	if b, err := io.ReadAll(r); err == nil || n != 5 {
		t.Errorf("short source: %q, %v, size %d", b, err, n)
	}
	r, _ = Partial(iotest.OneByteReader(strings.NewReader("abc")), 10, &imap.Partial{Offset: 5, Count: 5})
	if _, err := io.ReadAll(r); err == nil {
		t.Error("short source before the origin: no error")
	}
}
