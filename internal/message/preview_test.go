package message

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func preview(t *testing.T, raw string) string {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	p := mustParse(t, raw)
	s, err := Preview(strings.NewReader(raw), p.Root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPreview: the preview text of RFC 8970 §3.3.
func TestPreview(t *testing.T) {
	long := strings.Repeat("word ", 100)
	tests := []struct{ name, raw, want string }{
		{"plain, quote and signature left out",
			"Subject: x\n\nHi Bob,\n\n> what about\n> lunch?\n\nNoon  suits\tme.\n-- \nAlice\n",
			"Hi Bob, Noon suits me."},
		{"only a quote: kept",
			"Subject: x\n\n> quoted only\n",
			"> quoted only"},
		{"quoted-printable latin-1",
			"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCa=E7a va? =\nTr=E8s bien.\n",
			"Caça va? Très bien."},
		{"base64 utf-8",
			"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\nSsOkIGjDpHIgw6RyIGRldA==\n",
			"Jä här är det"},
		{"html: head, style, script, quote and markup removed, entities decoded",
			"Content-Type: text/html\n\n<html><head><title>News</title><style>p{color:red}</style></head>" +
				"<body><p>Hello&nbsp;<b>world</b> &amp; all</p><script>x()</script><blockquote>old mail</blockquote><p>Bye</p></body></html>\n",
			"Hello world & all Bye"},
		{"html: a head left open ends at the body",
			"Content-Type: text/html\n\n<html><head><title>T</title><body>Text</body></html>\n",
			"Text"},
		{"html: only a quote: kept",
			"Content-Type: text/html\n\n<blockquote>quoted</blockquote>\n",
			"quoted"},
		{"alternative prefers plain",
			"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>rich</p>\n--b\nContent-Type: text/plain\n\nplain\n--b--\n",
			"plain"},
		{"mixed: first text part, attachment skipped",
			"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=a.txt\n\nattached\n--b\nContent-Type: image/png\n\nxx\n--b\nContent-Type: text/plain\n\nthe text\n--b--\n",
			"the text"},
		{"no text part", "Content-Type: image/png\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n", ""},
		{"empty body", "Subject: x\n\n", ""},
		{"encrypted", "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\n\n--b\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--b\nContent-Type: application/octet-stream\n\n-----BEGIN PGP MESSAGE-----\n--b--\n", ""},
		{"inline pgp", "Subject: x\n\n-----BEGIN PGP MESSAGE-----\nhQEMA\n-----END PGP MESSAGE-----\n", ""},
		{"signed: the content", "Content-Type: multipart/signed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsigned text\n--b\nContent-Type: application/pgp-signature\n\nsig\n--b--\n", "signed text"},
		{"controls and invisible characters removed", "Content-Type: text/plain; charset=utf-8\n\na\x01b\u200bc\u00add\ufeffe\x7f\n", "abcde"},
		{"cut at a word break", "Subject: x\n\n" + long + "\n", strings.TrimSpace(long[:199])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := preview(t, tt.raw); got != tt.want {
				t.Errorf("Preview = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPreviewBounds: at most 200 characters (RFC 8970 §3.3 SHOULD; 256
// MUST NOT), valid UTF-8 without line breaks, also for a long word of
// multi-byte characters and a huge part, of which a bounded amount is read.
func TestPreviewBounds(t *testing.T) {
	for _, body := range []string{
		strings.Repeat("é", 10000),
		strings.Repeat("日本語のテキスト ", 3000),
		strings.Repeat("x", 5<<20),
	} {
		raw := "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
		p := mustParse(t, raw)
		r := &countingReaderAt{r: strings.NewReader(raw)}
		got, err := Preview(r, p.Root)
		if err != nil {
			t.Fatal(err)
		}
		if n := utf8.RuneCountInString(got); n == 0 || n > PreviewChars || !utf8.ValidString(got) || strings.ContainsAny(got, "\r\n\x00") {
			t.Errorf("preview of %d characters, valid %v: %q...", n, utf8.ValidString(got), got[:min(len(got), 40)])
		}
		if r.n > 2*previewBudget {
			t.Errorf("read %d octets for a preview", r.n)
		}
	}
}

type countingReaderAt struct {
	r interface {
		ReadAt([]byte, int64) (int, error)
	}
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// FuzzPreview: any message gets a preview, never an error, of at most
// PreviewChars characters of valid UTF-8 without CR, LF or NUL.
func FuzzPreview(f *testing.F) {
	f.Add([]byte("Content-Type: text/html; charset=utf-8\r\n\r\n<head><blockquote><head>x</blockquote></body>\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-2022-jp\r\nContent-Transfer-Encoding: base64\r\n\r\nGyRCJEskWxsoQg==\r\n--b--\r\n"))
	f.Add([]byte("Subject: x\r\n\r\n> a\r\n-- \r\nsig\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(bytes.NewReader(data), int64(len(data)), DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		s, err := Preview(bytes.NewReader(data), p.Root)
		if err != nil {
			t.Fatal(err)
		}
		if utf8.RuneCountInString(s) > PreviewChars || !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00") {
			t.Fatalf("preview %q", s)
		}
	})
}
