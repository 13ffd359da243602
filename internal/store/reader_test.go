package store

import (
	"bytes"
	"io"
	"slices"
	"testing"
)

type bytesBlob struct{ *bytes.Reader }

func (bytesBlob) Close() error { return nil }

// TestMessageReader reads prefix+body at every offset and length.
func TestMessageReader(t *testing.T) {
	prefix, body := []byte("Prefix: 1\r\n"), []byte("Subject: s\r\n\r\nbody\r\n")
	whole := append(slices.Clone(prefix), body...)
	r := NewMessageReader(prefix, bytesBlob{bytes.NewReader(body)})
	if r.Size() != int64(len(whole)) {
		t.Fatalf("Size = %d", r.Size())
	}
	for off := 0; off <= len(whole); off++ {
		for n := 0; off+n <= len(whole)+2; n++ {
			buf := make([]byte, n)
			got, err := r.ReadAt(buf, int64(off))
			want := min(n, len(whole)-off)
			if got != want || !bytes.Equal(buf[:got], whole[off:off+want]) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d %q, %v", n, off, got, buf[:got], err)
			}
			if got < n && err != io.EOF {
				t.Fatalf("short ReadAt(%d at %d) without io.EOF: %v", n, off, err)
			}
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("negative offset accepted")
	}
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, whole) {
		t.Fatalf("ReadAll = %q, %v", all, err)
	}
}
