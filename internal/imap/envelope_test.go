package imap

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postel/internal/message"
)

var update = flag.Bool("update", false, "rewrite the expected wire text in testdata")

// TestEnvelopeBodyStructure renders the ENVELOPE and BODYSTRUCTURE of each
// testdata/bodystructure/*.eml (line endings made CRLF, as stored) and
// compares them with the wire text in the .txt beside it. Run with
// -update to rewrite the .txt files, then review them against RFC 9051
// §7.5.2 before committing.
func TestEnvelopeBodyStructure(t *testing.T) {
	files, err := filepath.Glob("testdata/bodystructure/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test messages: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			raw = bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
			p, err := message.Parse(bytes.NewReader(raw), int64(len(raw)), message.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			var got strings.Builder
			for _, v := range []struct {
				title string
				utf8  bool
				f     func(w *Writer)
			}{
				{"ENVELOPE", false, func(w *Writer) { w.Envelope(p.Envelope) }},
				{"ENVELOPE after ENABLE UTF8=ACCEPT", true, func(w *Writer) { w.Envelope(p.Envelope) }},
				{"BODYSTRUCTURE", false, func(w *Writer) { w.BodyStructure(p.Root, true) }},
				{"BODY", false, func(w *Writer) { w.BodyStructure(p.Root, false) }},
			} {
				got.WriteString("-- " + v.title + "\n" + render(v.utf8, v.f) + "\n")
			}
			want := strings.TrimSuffix(file, ".eml") + ".txt"
			if *update {
				if err := os.WriteFile(want, []byte(got.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			exp, err := os.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != string(exp) {
				t.Errorf("got:\n%s\nwant:\n%s", got.String(), exp)
			}
		})
	}
}
