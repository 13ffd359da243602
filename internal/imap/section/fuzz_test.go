package section

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postel/internal/imap"
	"postel/internal/message"
)

var fuzzSpecifiers = []string{"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"}

// fuzzLimits are small, so that fuzzing reaches the parser's limits.
var fuzzLimits = message.Limits{MaxDepth: 3, MaxParts: 8, MaxHeaderBytes: 256}

// FuzzBody serves random sections of random messages: nothing panics, a
// reader always gives exactly the size announced, part bodies are the
// bytes the structure says, partials are substrings, and BINARY.SIZE is
// the size of BINARY.
func FuzzBody(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, []byte{2, 1}, uint8(0), "subject,from", int64(3), int64(40))
		f.Add(raw, []byte{}, uint8(2), "Subject,content-type", int64(0), int64(1<<20))
		f.Add(raw, []byte{1, 1}, uint8(5), "", int64(-1), int64(5))
	}
	f.Add([]byte("Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n=41"), []byte{1, 1}, uint8(3), "x", int64(1), int64(1))
	f.Fuzz(func(t *testing.T, data []byte, rawPath []byte, spec uint8, fields string, off, count int64) {
		if len(rawPath) > 8 {
			rawPath = rawPath[:8]
		}
		path := make([]int, len(rawPath))
		for i, b := range rawPath {
			path[i] = int(b % 5) // 0 is never a part
		}
		s := &imap.Section{Part: path, Specifier: fuzzSpecifiers[int(spec)%len(fuzzSpecifiers)]}
		if fields != "" {
			s.Fields = strings.Split(fields, ",")
		}
		for _, lim := range []message.Limits{message.DefaultLimits(), fuzzLimits} {
			p, err := message.Parse(bytes.NewReader(data), int64(len(data)), lim)
			if err != nil {
				t.Fatal(err)
			}
			checkSection(t, data, p.Root, s, off, count)
		}
	})
}

func checkSection(t *testing.T, data []byte, root *message.Part, s *imap.Section, off, count int64) {
	r, n, err := Body(bytes.NewReader(data), int64(len(data)), root, s)
	switch {
	case errors.Is(err, ErrNoPart):
	case err != nil && s.Specifier == "MIME" && len(s.Part) == 0:
	case err != nil:
		t.Fatalf("Body(%+v): %v", s, err)
	default:
		got := readAll(t, r, n)
		if s.Specifier == "" && len(s.Part) > 0 {
			p, err := Find(root, s.Part)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(data[p.BodyStart:p.End]) {
				t.Fatalf("part %v: got %q", s.Part, got)
			}
		}
		r, _, _ = Body(bytes.NewReader(data), int64(len(data)), root, s)
		pr, pn := Partial(r, n, &imap.Partial{Offset: off, Count: count})
		want := ""
		if o := max(off, 0); o < n {
			end := n
			if c := max(count, 0); c < n-o {
				end = o + c
			}
			want = got[o:end]
		}
		if sub := readAll(t, pr, pn); sub != want {
			t.Fatalf("partial <%d.%d> of %q: %q, want %q", off, count, got, sub, want)
		}
	}

	br, err := Binary(bytes.NewReader(data), root, s.Part)
	size, serr := BinarySize(bytes.NewReader(data), root, s.Part)
	if (err == nil) != (serr == nil) {
		t.Fatalf("Binary: %v, BinarySize: %v", err, serr)
	}
	if err != nil {
		if !errors.Is(err, ErrNoPart) && !errors.Is(err, ErrUnknownCTE) {
			t.Fatalf("Binary(%v): %v", s.Part, err)
		}
		return
	}
	b, err := io.ReadAll(br)
	if err != nil || int64(len(b)) != size {
		t.Fatalf("Binary(%v): read %d bytes (%v), BinarySize %d", s.Part, len(b), err, size)
	}
}
