package certs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/acme/autocert"
)

func TestDirCache(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "acme")
	// An existing directory open to others is tightened.
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := newDirCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Errorf("directory mode %v, want 0700", got)
	}
	var puts []string
	c.put = func(key string, data []byte) { puts = append(puts, key+"="+string(data)) }

	if _, err := c.Get(ctx, "mail.example.org"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Errorf("Get of a missing key: %v, want autocert.ErrCacheMiss", err)
	}
	if err := c.Put(ctx, "mail.example.org", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "mail.example.org", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, "mail.example.org"); err != nil || string(got) != "two" {
		t.Errorf("Get = %q, %v", got, err)
	}
	if got := mode(t, filepath.Join(dir, "mail.example.org")); got != 0o600 {
		t.Errorf("file mode %v, want 0600", got)
	}
	if strings.Join(puts, " ") != "mail.example.org=one mail.example.org=two" {
		t.Errorf("put hook saw %q", puts)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d files, want 1 (no temporary file left)", len(entries))
	}
	if err := c.Delete(ctx, "mail.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "mail.example.org"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	if _, err := c.Get(ctx, "mail.example.org"); !errors.Is(err, autocert.ErrCacheMiss) {
		t.Errorf("Get after Delete: %v", err)
	}

	// Keys that could leave the directory, or hide in it.
	for _, key := range []string{"", "../escape", "a/b", `a\b`, ".hidden", "..", "a\x00b"} {
		if err := c.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) accepted", key)
		}
		if _, err := c.Get(ctx, key); err == nil || errors.Is(err, autocert.ErrCacheMiss) {
			t.Errorf("Get(%q): %v, want a refusal", key, err)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was written outside the cache: %v", err)
	}

	// A cancelled context stops before touching the disk.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Put(cancelled, "x.example.org", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v", err)
	}
}
