package section

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"postel/internal/message"
)

type binaryCase struct {
	name string
	path []int
	want string
	err  error
}

func runBinary(t *testing.T, raw []byte, cases []binaryCase) {
	t.Helper()
	root := parsed(t, raw)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Binary(bytes.NewReader(raw), root, c.path)
			n, serr := BinarySize(bytes.NewReader(raw), root, c.path)
			if c.err != nil {
				if !errors.Is(err, c.err) || !errors.Is(serr, c.err) {
					t.Fatalf("errors %v, %v; want %v", err, serr, c.err)
				}
				return
			}
			if err != nil || serr != nil {
				t.Fatal(err, serr)
			}
			if got := readAll(t, r, n); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	single := readEML(t, "single.eml")
	runBinary(t, single, []binaryCase{
		// Soft breaks, lower-case hex, trailing white space dropped, "=20"
		// kept, a lone "=" kept, a soft break at the very end.
		{"QP", []int{1}, "Café crème brûlée.\r\nLine two \r\n= end, 1=2 and ", nil},
		{"whole QP message: header without its CTE, body decoded", nil,
			strings.Replace(singleHeader, "Content-Transfer-Encoding: quoted-printable\r\n", "", 1) +
				"Café crème brûlée.\r\nLine two \r\n= end, 1=2 and ", nil},
		{"no part", []int{2}, "", ErrNoPart},
	})

	alt := readEML(t, "alternative.eml")
	runBinary(t, alt, []binaryCase{
		{"QP text", []int{1, 1}, "Hello Bob,\r\nthe report is attached. €", nil},
		{"7bit text", []int{1, 2}, "<p>Hello Bob,</p>", nil},
		{"base64 attachment, not text: line breaks kept", []int{2}, "\x00\x01\x02\xfe\xffbinary\r\ndata\n", nil},
		{"multipart part as is", []int{1}, string(alt[bytes.Index(alt, []byte("--alt\r\n")) : bytes.Index(alt, []byte("--alt--"))+7]), nil},
		{"whole multipart message as stored", nil, string(alt), nil},
	})

	nested := readEML(t, "nested.eml")
	runBinary(t, nested, []binaryCase{
		{"base64 text: exact, bare LF kept", []int{2, 1}, "line one\nline two\n", nil},
		{"base64 with junk, upper-case CTE", []int{2, 2}, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", nil},
		{"message part as is", []int{3}, "From: Dan <dan@example.com>\r\nSubject: Short\r\n\r\nJust text.", nil},
		{"text in message", []int{3, 1}, "Just text.", nil},
		{"no part", []int{2, 3}, "", ErrNoPart},
	})

	lf := readEML(t, "lf.eml")
	runBinary(t, lf, []binaryCase{
		{"QP text, LF message", []int{1}, "Gr\xfc\xdfe\r\nzweite Zeile", nil},
		{"8bit text, LF message", []int{2}, "<p>Gr\xfc\xdfe</p>", nil},
		{"whole message as stored", nil, string(lf), nil},
	})

	unknown := []byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n")
	runBinary(t, unknown, []binaryCase{
		{"unknown CTE", []int{1}, "", ErrUnknownCTE},
		{"unknown CTE, whole message", nil, "", ErrUnknownCTE},
	})

	b64 := []byte("Content-Type: application/pdf\nContent-Transfer-Encoding: Base64\n\nJVBE\nRi0=\n")
	runBinary(t, b64, []binaryCase{
		{"whole base64 message, LF", nil, "Content-Type: application/pdf\n\n%PDF-", nil},
	})
}

func TestBinaryBadStructure(t *testing.T) {
	if _, err := Binary(strings.NewReader(""), nil, nil); !errors.Is(err, ErrStructure) {
		t.Errorf("nil root: %v", err)
	}
	root := &message.Part{Type: "multipart", Subtype: "mixed", End: 10, Parts: []*message.Part{
		{Type: "text", Subtype: "plain", HeaderStart: 5, BodyStart: 4, End: 8},
		{Type: "text", Subtype: "plain", HeaderStart: 5, BodyStart: 6, End: 11},
	}}
	for _, path := range [][]int{{1}, {2}} {
		if _, err := BinarySize(strings.NewReader("0123456789"), root, path); !errors.Is(err, ErrStructure) {
			t.Errorf("%v: %v", path, err)
		}
	}
}

// decode runs a decoder over in, read in chunks of every size from 1 to
// all at once, and checks they all agree.
func decode(t *testing.T, newReader func(io.Reader) io.Reader, in string) string {
	t.Helper()
	var first string
	for i, src := range []io.Reader{
		strings.NewReader(in),
		iotest.OneByteReader(strings.NewReader(in)),
		iotest.HalfReader(strings.NewReader(in)),
		iotest.DataErrReader(strings.NewReader(in)),
	} {
		b, err := io.ReadAll(newReader(src))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if i == 0 {
			first = string(b)
		} else if string(b) != first {
			t.Fatalf("%q: chunking changes the output: %q, then %q", in, first, b)
		}
	}
	return first
}

func TestBase64(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"aGVsbG8=", "hello"},
		{"aGVsbG8", "hello"}, // no padding
		{"aGVs\r\nbG8=\r\n", "hello"},
		{"aG Vs!b*G8=", "hello"}, // junk ignored
		{"aGk=aGk=", "hihi"},     // padding ends a group
		{"aGk==", "hi"},
		{"a", ""},        // a single value makes no byte
		{"aGVsb", "hel"}, // nor does a trailing one
		{"====", ""},
		{"/+/+", "\xff\xef\xfe"},
		{"\x00\xff\x80", ""},
	} {
		got := decode(t, func(r io.Reader) io.Reader { return &chunkReader{r: r, t: &base64Decoder{}} }, c.in)
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestQuotedPrintable(t *testing.T) {
	long := strings.Repeat(" ", maxTrailingSpace+5)
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a=3Db", "a=b"},
		{"a=3db", "a=b"},                    // lower-case hex
		{"=E2=82=AC", "€"},                  // multi-byte
		{"soft=\r\nbreak", "softbreak"},     // soft line break
		{"soft=\nbreak", "softbreak"},       // LF only
		{"soft=  \t\r\nbreak", "softbreak"}, // white space after "="
		{"end=", "end"},                     // soft break at the end
		{"end=  ", "end"},
		{"trail  \r\nx", "trail\r\nx"}, // trailing white space dropped
		{"trail \t\nx", "trail\r\nx"},  // a hard line break stands for CRLF (rule 4),
		{"trail  ", "trail"},           // at the end too
		{"in  side", "in  side"},
		{"keep=20\r\n", "keep \r\n"},
		{"a=\rb", "a=\rb"},    // "=" then a lone CR
		{"a\rb\r", "a\rb\r"},  // lone CRs kept
		{"a =\r\n b", "a  b"}, // space before a soft break kept
		{"=G1=1", "=G1=1"},    // not hex: kept
		{"=", ""},
		{"==41", "=A"},
		{"8bit \xe9\r\n", "8bit \xe9\r\n"},
		{"x" + long + "\r\ny", "x" + strings.Repeat(" ", maxTrailingSpace) + "\r\ny"},
		{"x=" + long + "\r\ny", "x=" + strings.Repeat(" ", maxTrailingSpace) + "\r\ny"},
		{"x=" + long[:maxTrailingSpace] + "\r\ny", "xy"},
	} {
		got := decode(t, func(r io.Reader) io.Reader { return newQPReader(r) }, c.in)
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCRLF(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"\n\n", "\r\n\r\n"},
		{"\r\n\n\r", "\r\n\r\n\r"},
		{"a\rb\n", "a\rb\r\n"},
		{"\r\r\n", "\r\r\n"},
	} {
		got := decode(t, func(r io.Reader) io.Reader { return &chunkReader{r: r, t: &crlfWriter{}} }, c.in)
		if got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}
