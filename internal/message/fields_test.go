package message

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestFields(t *testing.T) {
	hdr := "From: a@example.org\r\n\tcontinued\r\n" +
		" \tagain\r\n" +
		"no colon here\r\n" +
		" continuation of the bad line\r\n" +
		"Subject : hi\r\n" +
		"\r\n" +
		"Body: not a field\r\n"
	b := []byte(hdr)
	fs := Fields(b)
	if len(fs) != 2 {
		t.Fatalf("fields = %q", fs)
	}
	if fs[0].Name != "From" || string(fs[0].Raw) != "From: a@example.org\r\n\tcontinued\r\n \tagain\r\n" {
		t.Errorf("From = %q", fs[0].Raw)
	}
	if got := fs[0].Value(); got != "a@example.org\tcontinued \tagain" {
		t.Errorf("From value = %q", got)
	}
	if !fs[1].Is("subject") || fs[1].Value() != "hi" {
		t.Errorf("Subject = %q %q", fs[1].Name, fs[1].Value())
	}
	// The input is never written to.
	if string(b) != hdr {
		t.Error("input changed")
	}
}

func TestReadHeader(t *testing.T) {
	msg := "A: 1\r\n" + "B: " + strings.Repeat("x", 5000) + "\r\n\r\nbody\r\n"
	got, err := ReadHeader(bufio.NewReaderSize(strings.NewReader(msg), 16), 1<<20)
	if err != nil || string(got) != msg[:strings.Index(msg, "body")] {
		t.Fatalf("ReadHeader = %q, %v", got, err)
	}
	if _, err := ReadHeader(bufio.NewReader(strings.NewReader(msg)), 100); err == nil {
		t.Error("no error past the bound")
	}
	// A message of header fields only ends at EOF.
	got, err = ReadHeader(bufio.NewReader(strings.NewReader("A: 1\r\n")), 100)
	if err != nil || !bytes.Equal(got, []byte("A: 1\r\n")) {
		t.Errorf("header only: %q, %v", got, err)
	}
}
