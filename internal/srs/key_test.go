package srs

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "srs.key")
	key, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != KeySize || bytes.Equal(key, make([]byte, KeySize)) {
		t.Errorf("key %x", key)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("second load = %x, %v; want %x", again, err, key)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the key alone", len(entries))
	}
	// The key works as a secret.
	if _, err := New([][]byte{key}, 0); err != nil {
		t.Error(err)
	}
}

func TestLoadOrCreateKeyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "short.key")
	os.WriteFile(bad, []byte("too short"), 0o600)
	if _, err := LoadOrCreateKey(bad); err == nil {
		t.Error("a key file of 9 bytes was accepted")
	}
	if data, _ := os.ReadFile(bad); string(data) != "too short" {
		t.Errorf("bad key file replaced: %q", data)
	}
	if _, err := LoadOrCreateKey(filepath.Join(dir, "missing", "srs.key")); err == nil {
		t.Error("key created in a missing directory")
	}
	if _, err := LoadOrCreateKey(dir); err == nil {
		t.Error("a directory was read as a key")
	}
}

// Processes (here goroutines) creating the key at once all end up with the
// one in the file.
func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs.key")
	keys := make([][]byte, 8)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateKey(path)
		}()
	}
	wg.Wait()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		if errs[i] != nil || !bytes.Equal(keys[i], file) {
			t.Errorf("caller %d: %x, %v; file has %x", i, keys[i], errs[i], file)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("directory holds %d entries", len(entries))
	}
}
