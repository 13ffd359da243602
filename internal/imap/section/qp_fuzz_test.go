package section

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"testing"
)

// FuzzDecoders compares the BINARY decoders with the standard library's
// on every input the latter accepts: quoted-printable with
// mime/quotedprintable (which go-message uses), base64 with
// encoding/base64 once the characters RFC 2045 §6.8 says to ignore are
// gone. Where the standard library fails, ours must still not.
func FuzzDecoders(f *testing.F) {
	for _, s := range []string{
		"Caf=C3=A9 cr=c3=a8me=\r\nsoft  \r\nhard=20\r\n=\r\n",
		"a=0Ab=\nc=00d \t\n=3D=3d=\n",
		"x = y\r\n==\r\n=4", "=\r", "line\r\n\r\n", "trailing \t",
		"aGVsbG8gd29ybGQ=\r\nYQ==\r\n", "aGVs*bG8!\r\n#", "YQ=YQ==",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ours, err := io.ReadAll(newQPReader(bytes.NewReader(in)))
		if err != nil {
			t.Fatalf("qp: %v", err)
		}
		// A CR not before LF is neither a line break nor white space in
		// quoted-printable (RFC 2045 §6.7 rules 3 and 4), where the
		// standard library drops it at a line's end; ours keeps it.
		// And a hard line break stands for CRLF (rule 4), where the
		// standard library gives a bare LF for one stored as LF.
		crlf := bytes.Count(in, []byte("\r\n"))
		notCRLF := bytes.Count(in, []byte("\r")) != crlf || bytes.Count(in, []byte("\n")) != crlf
		if std, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(in))); err == nil && !notCRLF && !bytes.Equal(ours, std) {
			t.Errorf("quoted-printable %q:\n ours %q\n  std %q", in, ours, std)
		}
		ours, err = io.ReadAll(&chunkReader{r: bytes.NewReader(in), t: &base64Decoder{}})
		if err != nil {
			t.Fatalf("base64: %v", err)
		}
		alpha := bytes.Map(func(r rune) rune {
			if r < 0x80 && (r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/') {
				return r
			}
			return -1
		}, in)
		if bytes.IndexByte(in, '=') < 0 && len(alpha)%4 != 1 {
			// Without padding the lengths that can be decoded are.
			if std, err := base64.RawStdEncoding.DecodeString(string(alpha)); err == nil && !bytes.Equal(ours, std) {
				t.Errorf("base64 %q:\n ours %q\n  std %q", in, ours, std)
			}
		}
	})
}
