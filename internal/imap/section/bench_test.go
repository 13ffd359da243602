package section

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// attachmentMessage returns a message with a text part and a base64
// attachment of n random bytes, in lines of 76 characters.
func attachmentMessage(n int) []byte {
	data := make([]byte, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b--\r\n")
	return []byte(b.String())
}

// BenchmarkBody serves BODY[2], a 1 MiB attachment (1.35 MiB encoded).
func BenchmarkBody(b *testing.B) {
	raw := attachmentMessage(1 << 20)
	root := parsed(b, raw)
	s := sec("", []int{2})
	for b.Loop() {
		r, n, err := Body(bytes.NewReader(raw), int64(len(raw)), root, s)
		if err != nil {
			b.Fatal(err)
		}
		if k, err := io.Copy(io.Discard, r); err != nil || k != n {
			b.Fatal(k, n, err)
		}
		b.SetBytes(n)
	}
}

// BenchmarkBinary decodes BINARY[2], the same attachment.
func BenchmarkBinary(b *testing.B) {
	raw := attachmentMessage(1 << 20)
	root := parsed(b, raw)
	for b.Loop() {
		r, err := Binary(bytes.NewReader(raw), root, []int{2})
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r)
		if err != nil || n != 1<<20 {
			b.Fatal(n, err)
		}
		b.SetBytes(n)
	}
}

// BenchmarkHeaderFields is what a client listing a mailbox asks of every
// message.
func BenchmarkHeaderFields(b *testing.B) {
	raw := readEML(b, "alternative.eml")
	root := parsed(b, raw)
	s := sec("HEADER.FIELDS", nil, "From", "To", "Subject", "Date", "Message-ID")
	for b.Loop() {
		r, n, err := Body(bytes.NewReader(raw), int64(len(raw)), root, s)
		if err != nil {
			b.Fatal(err)
		}
		if k, err := io.Copy(io.Discard, r); err != nil || k != n {
			b.Fatal(k, n, err)
		}
	}
}
