package message

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"mime/quotedprintable"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"
)

func mustParse(t testing.TB, raw string) *Parsed {
	t.Helper()
	p, err := Parse(strings.NewReader(raw), int64(len(raw)), DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExtractText(t *testing.T) {
	tests := []struct {
		name          string
		raw           string
		headers, body string
	}{
		{
			name: "plain",
			raw:  readFile(t, "plain.eml"),
			headers: "Return-Path: <alice@example.org>\n" +
				"Received: from mail.example.org (mail.example.org [192.0.2.1]) by mx.example.net with ESMTPS id 4F3A2; Tue, 1 Jul 2025 10:52:37 +0200\n" +
				"From: Alice Example <alice@example.org>\n" +
				"To: bob@example.net, \"Carol, C.\" <carol@example.net>\n" +
				"Cc: Dave <dave@example.com>\n" +
				"Subject: Lunch on Friday?\n" +
				"Date: Tue, 1 Jul 2025 10:52:30 +0200 (CEST)\n" +
				"Message-ID: <20250701.1@example.org>\n" +
				"In-Reply-To: <prev.99@example.net>\n" +
				"References: <root.1@example.net> <prev.99@example.net>\n" +
				"MIME-Version: 1.0\n" +
				"Content-Type: text/plain; charset=\"utf-8\"; format=flowed\n" +
				"Content-Transfer-Encoding: 8bit",
			body: "Hi Bob,\n\nshall we meet at noon? Ça va?\n-- \nAlice\n",
		},
		{
			name: "alternative with attachment",
			raw:  readFile(t, "alternative.eml"),
			headers: "From: Shop <noreply@shop.example>\nTo: customer@example.net\nSubject: Your invoice\n" +
				"Date: Wed, 02 Jul 2025 08:00:00 +0000\nMessage-ID: <inv-42@shop.example>\nMIME-Version: 1.0\n" +
				"Content-Type: multipart/mixed; boundary=\"outer=_b1\"",
			// The text part, then the HTML one; the PDF is skipped.
			body: "Thanks for your order.\nTotal: 42 EUR\nThanks for your order.",
		},
		{
			name:    "encapsulated message",
			raw:     readFile(t, "rfc822.eml"),
			headers: "From: Bob <bob@example.net>\nTo: Alice <alice@example.org>\nSubject: Fwd: Plans\nDate: Thu, 03 Jul 2025 12:00:00 -0400\nContent-Type: multipart/mixed; boundary=fwd",
			body: "See below.\n" +
				"From: Carol <carol@example.net>\nTo: Bob <bob@example.net>\nSubject: Plans\nDate: Wed, 02 Jul 2025 09:00:00 -0400\nMessage-ID: <plans@example.net>\nContent-Type: multipart/alternative; boundary=alt\n" +
				"Plans attached.\nPlans",
		},
		{
			name: "encoded words and latin-1 quoted-printable",
			raw:  readFile(t, "encoded.eml"),
			headers: "From: André Pirard <pirard@example.be>\n" +
				"To: Élodíe <elodie@example.fr>, \"Keld Jørn Simonsen\" <keld@example.dk>\n" +
				"Cc: =?x-unknown?q?Mystery?= <m@example.com>\n" +
				"Subject: Élève à l'école\n" +
				"Date: Fri, 4 Jul 2025 23:59:59 +0100\n" +
				"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable",
			body: "Café\n",
		},
		{
			name: "base64 utf-8 and windows-1252 fallback",
			raw: "Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
				"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				"w4dhIHZh\r\nIGJpZW4/\r\n--b\r\n" +
				"Content-Type: text/plain\r\n\r\nna\xefve \x80\r\n--b\r\n" +
				"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
			headers: "Subject: x\nContent-Type: multipart/mixed; boundary=b",
			body:    "Ça va bien?\nnaïve €",
		},
		{
			name: "html",
			raw: "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				"<html><head><title>T=EEtle</title><style>p { color: red; }</style>\r\n" +
				"<script type=3D\"x\">if (a < b) alert('no');</script></head>\r\n" +
				"<body><!-- hidden <b>comment</b> --><p>Caf=E9 &amp; cr&egrave;me &lt;b&gt;</p>\r\n" +
				"<table><tr><td>a</td><td>b</td></tr></table>x < y<br/><SPAN>in</SPAN>line=\r\n" +
				"d</body></html>",
			headers: "Content-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable",
			body:    "Tîtle\nCafé & crème <b>\na b\nx < y\ninlined",
		},
		{
			name: "base64 encapsulated message",
			raw: "Subject: outer\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte("Subject: inner\r\n\r\nhidden text\r\n")) + "\r\n",
			headers: "Subject: outer\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64",
			body:    "Subject: inner\nhidden text\n",
		},
		{
			name:    "no header",
			raw:     "\r\nbody only\r\n",
			headers: "",
			body:    "body only\n",
		},
		{
			name:    "unknown charset kept",
			raw:     "Content-Type: text/plain; charset=x-nonesuch\r\n\r\nplain words\r\n",
			headers: "Content-Type: text/plain; charset=x-nonesuch",
			body:    "plain words\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.raw)
			h, b, err := ExtractText(strings.NewReader(tt.raw), p.Root, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.headers {
				t.Errorf("headers:\n%q\nwant\n%q", h, tt.headers)
			}
			if b != tt.body {
				t.Errorf("body:\n%q\nwant\n%q", b, tt.body)
			}
		})
	}
}

func TestExtractTextLimit(t *testing.T) {
	raw := "Subject: ééééé\r\nX: yyyyyyyyyy\r\n\r\n" + strings.Repeat("ü", 100) + "\r\n"
	p := mustParse(t, raw)
	for _, limit := range []int64{-1, 0, 1, 2, 3, 10, 11, 20, 41, 60, 1000} {
		h, b, err := ExtractText(strings.NewReader(raw), p.Root, limit)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(h)+len(b)) > max(limit, 0) || int64(len(h)) > limit/2+0 && limit > 0 {
			t.Errorf("limit %d: %d+%d bytes", limit, len(h), len(b))
		}
		if !utf8.ValidString(h) || !utf8.ValidString(b) {
			t.Errorf("limit %d: invalid UTF-8 %q %q", limit, h, b)
		}
		full := "Subject: ééééé\nX: yyyyyyyyyy"
		if !strings.HasPrefix(full, h) || !strings.HasPrefix(strings.Repeat("ü", 100)+"\n", b) {
			t.Errorf("limit %d: not prefixes: %q %q", limit, h, b)
		}
		// What the budget allows is used, up to a character.
		if limit >= 1000 && (h != full || len(b) != 201) {
			t.Errorf("limit %d: cut short: %q %q", limit, h, b)
		}
		if limit == 41 && (len(h) != 20 || len(b) != 20) {
			t.Errorf("limit 41: %q %q", h, b)
		}
	}
}

// brokenDisk fails every read at or past off.
type brokenDisk struct {
	r   io.ReaderAt
	off int64
}

var errDisk = errors.New("disk on fire")

func (f brokenDisk) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.off {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

func TestExtractTextErrors(t *testing.T) {
	raw := readFile(t, "alternative.eml")
	p := mustParse(t, raw)
	// A message shorter than its structure says.
	_, _, err := ExtractText(strings.NewReader(raw[:len(raw)/2]), p.Root, 1<<20)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
	for _, off := range []int64{0, 100, int64(len(raw)) / 2} {
		_, _, err = ExtractText(brokenDisk{strings.NewReader(raw), off}, p.Root, 1<<20)
		if !errors.Is(err, errDisk) {
			t.Errorf("failing at %d: %v", off, err)
		}
	}
	// A failure past what the budget reads is not seen.
	h, b, err := ExtractText(brokenDisk{strings.NewReader(raw), int64(len(raw)) + 1}, p.Root, 1<<20)
	if err != nil || h == "" || b == "" {
		t.Errorf("no failure: %q %q %v", h, b, err)
	}
}

func TestDecodePart(t *testing.T) {
	tests := []struct {
		enc, body, want string
	}{
		{"BASE64", "SGVs\r\nbG8=\r\n", "Hello"},
		{"BASE64", "SGVsbG8", "Hello"}, // a final group of three sextets
		{"BASE64", "S*G!V\x00sbG8gd29y\tbGQ=junk", "Hello world\x8e\xe9\xe4"},
		{"BASE64", "YQ==Yg==", "ab"},
		{"BASE64", "", ""},
		{"QUOTED-PRINTABLE", "caf=C3=a9 =\r\nnext  \r\nline\t\nend=", "café next\r\nline\nend"},
		{"QUOTED-PRINTABLE", "a=3Db =zz =4 =\r=\nb= \t \r\nc", "a=b =zz =4 bc"},
		{"QUOTED-PRINTABLE", "x= y", "x= y"},
		{"QUOTED-PRINTABLE", "trailing =4", "trailing =4"},
		{"QUOTED-PRINTABLE", "space   ", "space"},
		{"7BIT", "as =3D is", "as =3D is"},
		{"X-UUENCODE", "begin 644", "begin 644"},
	}
	for _, tt := range tests {
		raw := "Content-Transfer-Encoding: " + tt.enc + "\r\n\r\n" + tt.body
		p := mustParse(t, raw)
		for _, oneByte := range []bool{false, true} {
			rd := DecodePart(strings.NewReader(raw), p.Root)
			if oneByte {
				rd = iotest.OneByteReader(rd)
			}
			got, err := io.ReadAll(rd)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("%s %q (one byte %v): got %q, want %q", tt.enc, tt.body, oneByte, got, tt.want)
			}
		}
	}
	if KnownEncoding("X-UUENCODE") || !KnownEncoding("BASE64") || !KnownEncoding("7BIT") {
		t.Error("KnownEncoding")
	}
}

// TestDecodeRoundTrip checks the decoders against the standard library's
// encoders, reading in small pieces so that state crosses reads.
func TestDecodeRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		data := make([]byte, rng.IntN(3000))
		for j := range data {
			switch rng.IntN(4) {
			case 0:
				data[j] = byte(rng.IntN(256))
			case 1:
				data[j] = " \t\r\n="[rng.IntN(5)]
			default:
				data[j] = byte('a' + rng.IntN(26))
			}
		}
		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		w.Binary = i%2 == 0
		w.Write(data)
		w.Close()
		b64 := base64.StdEncoding.EncodeToString(data)
		var folded strings.Builder
		for len(b64) > 76 {
			folded.WriteString(b64[:76] + "\r\n")
			b64 = b64[76:]
		}
		folded.WriteString(b64)

		for _, c := range []struct{ enc, body string }{{"QUOTED-PRINTABLE", qp.String()}, {"BASE64", folded.String()}} {
			want, err := io.ReadAll(decodeStd(c.enc, c.body))
			if err != nil {
				t.Fatalf("%s: standard decoder: %v", c.enc, err)
			}
			r := &decodeReader{src: iotest.HalfReader(strings.NewReader(c.body)), t: newTransform(c.enc)}
			got, err := io.ReadAll(iotest.OneByteReader(r))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s of %q:\ngot  %q\nwant %q", c.enc, c.body, got, want)
			}
		}
	}
}

func decodeStd(enc, body string) io.Reader {
	if enc == "BASE64" {
		return base64.NewDecoder(base64.StdEncoding, strings.NewReader(body))
	}
	return quotedprintable.NewReader(strings.NewReader(body))
}

func newTransform(enc string) transform {
	if enc == "BASE64" {
		return &base64Decoder{}
	}
	return &qpDecoder{}
}

func TestStripHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\nb"},
		{"a <b>bold</b> c", "a bold c"},
		{"<scrip>x</scrip>", "x"},
		{"<script>a</script >b<style>c", "b"},
		{"<!-- unterminated comment", ""},
		{"<a href='x>y'>link</a>", "y'>link"}, // crude: the first ">" ends a tag
		{"1 < 2 <3 <", "1 < 2 <3 <"},
		{"&lt;&#65;&#x42;&unknown;&nbsp;", "<AB&unknown;\u00a0"},
		{"<!DOCTYPE html><?xml x?>text", "text"},
		{"  lots \n\n of \t space  ", "lots\nof space"},
		{"<unterminated tag", ""},
	}
	for _, tt := range tests {
		if got := stripHTML(tt.in); got != tt.want {
			t.Errorf("stripHTML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzExtractText(f *testing.F) {
	files, _ := os.ReadDir("testdata")
	for _, e := range files {
		if strings.HasSuffix(e.Name(), ".eml") {
			raw, err := os.ReadFile("testdata/" + e.Name())
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw, int64(1<<20))
			f.Add(raw, int64(57))
		}
	}
	f.Add([]byte("Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>=E9=\r\n<script>x"), int64(100))
	f.Add([]byte("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogaQ0KDQpi"), int64(1000))
	f.Add([]byte("Content-Type: text/plain; charset=utf-16\r\n\r\n\xff\xfeh\x00i\x00"), int64(1000))
	f.Fuzz(func(t *testing.T, data []byte, limit int64) {
		p, err := Parse(bytes.NewReader(data), int64(len(data)), fuzzLimits)
		if err != nil {
			t.Fatal(err)
		}
		h, b, err := ExtractText(bytes.NewReader(data), p.Root, limit)
		if err != nil {
			t.Fatalf("ExtractText: %v", err)
		}
		if int64(len(h)+len(b)) > max(limit, 0) || (limit > 0 && int64(len(h)) > limit/2) {
			t.Errorf("limit %d exceeded: %d+%d", limit, len(h), len(b))
		}
		if !utf8.ValidString(h) || !utf8.ValidString(b) {
			t.Error("invalid UTF-8")
		}
		var decodeAll func(q *Part)
		decodeAll = func(q *Part) {
			if _, err := io.ReadAll(DecodePart(bytes.NewReader(data), q)); err != nil {
				t.Errorf("DecodePart: %v", err)
			}
			for _, c := range q.Parts {
				decodeAll(c)
			}
			if q.Message != nil {
				decodeAll(q.Message.Root)
			}
		}
		decodeAll(p.Root)
	})
}
