package sharedfiles

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"postel/internal/store"
)

var ctx = context.Background()

// memStore is store.SharedFiles in memory, with the PostgreSQL store's
// rules. beforePut, when set, runs before each put (a node racing).
type memStore struct {
	mu        sync.Mutex
	files     map[string][]byte
	beforePut func(name string)
}

func (m *memStore) PutSharedFile(_ context.Context, name string, data []byte) error {
	if m.beforePut != nil {
		m.beforePut(name)
	}
	if err := store.CheckSharedFileName(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if have, ok := m.files[name]; ok {
		if !bytes.Equal(have, data) {
			return store.ErrExists
		}
		return nil
	}
	m.files[name] = bytes.Clone(data)
	return nil
}

func (m *memStore) SharedFiles(context.Context) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.files), nil
}

func newMem(files map[string]string) *memStore {
	m := &memStore{files: map[string][]byte{}}
	for n, d := range files {
		m.files[n] = []byte(d)
	}
	return m
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestSyncFetchesAndPublishes: what the store has and data_dir lacks is
// written (0600 in 0700 directories, nothing left behind); what data_dir
// has and the store lacks is put; what both hold alike is left alone.
func TestSyncFetchesAndPublishes(t *testing.T) {
	dir := t.TempDir()
	st := newMem(map[string]string{
		"srs.key":                             "store srs",
		"dkim/example.org/postel-rsa.key":     "store rsa",
		"dkim/example.org/postel-ed25519.key": "store ed",
		"dkim/both.example/postel-rsa.key":    "same",
	})
	write(t, dir, "dkim/both.example/postel-rsa.key", "same")
	write(t, dir, "dkim/local.example/postel-rsa.key", "local rsa")
	// Not secrets to share: skipped both ways.
	write(t, dir, "dkim/local.example/.tmp-123", "half")
	write(t, dir, "dkim/local.example/notes.txt", "x")
	write(t, dir, "postel.db", "db")
	write(t, dir, "tls/key.pem", "tls")

	res, err := Sync(ctx, st, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dkim/example.org/postel-ed25519.key", "dkim/example.org/postel-rsa.key", "srs.key"}; !slices.Equal(res.Fetched, want) {
		t.Errorf("Fetched %v, want %v", res.Fetched, want)
	}
	if want := []string{"dkim/local.example/postel-rsa.key"}; !slices.Equal(res.Published, want) || len(res.Created) != 0 {
		t.Errorf("Published %v, Created %v; want %v", res.Published, res.Created, want)
	}
	for name, data := range map[string]string{"srs.key": "store srs", "dkim/example.org/postel-rsa.key": "store rsa",
		"dkim/example.org/postel-ed25519.key": "store ed"} {
		if got := read(t, dir, name); got != data {
			t.Errorf("%s holds %q, want %q", name, got, data)
		}
		if m := mode(t, filepath.Join(dir, name)); m != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, m)
		}
	}
	for _, d := range []string{"dkim/example.org"} {
		if m := mode(t, filepath.Join(dir, d)); m != 0o700 {
			t.Errorf("%s has mode %v, want 0700", d, m)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "dkim", "example.org"))
	if len(ents) != 2 {
		t.Errorf("dkim/example.org holds %v: a temporary file left behind?", ents)
	}
	if got := string(st.files["dkim/local.example/postel-rsa.key"]); got != "local rsa" {
		t.Errorf("published %q", got)
	}
	if len(st.files) != 5 {
		t.Errorf("the store holds %v", slices.Sorted(maps.Keys(st.files)))
	}

	// In step now: nothing to do.
	res, err = Sync(ctx, st, dir, Options{})
	if err != nil || len(res.Fetched)+len(res.Published)+len(res.Created) != 0 {
		t.Fatalf("second Sync: %+v, %v", res, err)
	}
}

// TestSyncConflict: a secret present in both with other contents is
// reported by its path and neither copy changes; everything else is
// still done.
func TestSyncConflict(t *testing.T) {
	dir := t.TempDir()
	st := newMem(map[string]string{"dkim/example.org/postel-rsa.key": "theirs", "srs.key": "store srs"})
	write(t, dir, "dkim/example.org/postel-rsa.key", "mine")
	write(t, dir, "dkim/example.net/postel-rsa.key", "net")
	res, err := Sync(ctx, st, dir, Options{})
	var ce *ConflictError
	if !errors.As(err, &ce) || !slices.Equal(ce.Names, []string{"dkim/example.org/postel-rsa.key"}) {
		t.Fatalf("Sync: %v, want a ConflictError on the RSA key", err)
	}
	path := filepath.Join(dir, "dkim", "example.org", "postel-rsa.key")
	if !strings.Contains(err.Error(), path+" differs from the copy in the store") || !strings.Contains(err.Error(), "neither was replaced") {
		t.Errorf("the error does not name the file clearly: %v", err)
	}
	if got := read(t, dir, "dkim/example.org/postel-rsa.key"); got != "mine" {
		t.Errorf("the local key was replaced by %q", got)
	}
	if got := string(st.files["dkim/example.org/postel-rsa.key"]); got != "theirs" {
		t.Errorf("the store's key was replaced by %q", got)
	}
	if !slices.Equal(res.Fetched, []string{"srs.key"}) || !slices.Equal(res.Published, []string{"dkim/example.net/postel-rsa.key"}) {
		t.Errorf("the rest not done: %+v", res)
	}

	// A file that appears in data_dir while Sync writes it (postel dkim
	// gen, another process) is never replaced either.
	dir = t.TempDir()
	write(t, dir, "srs.key", "another")
	if same, err := writeNew(dir, "srs.key", []byte("store srs")); err != nil || same {
		t.Fatalf("writeNew over an existing file: same %v, %v", same, err)
	}
	if got := read(t, dir, "srs.key"); got != "another" {
		t.Fatalf("writeNew replaced a file: %q", got)
	}
}

// TestSyncMake: a secret neither side has is made, put into the store
// first, then written; one another node put meanwhile is taken instead;
// one either side has is not made.
func TestSyncMake(t *testing.T) {
	calls := 0
	mk := func() ([]byte, error) { calls++; return []byte("new secret"), nil }

	dir := t.TempDir()
	st := newMem(nil)
	res, err := Sync(ctx, st, dir, Options{Make: map[string]func() ([]byte, error){"srs.key": mk}})
	if err != nil || !slices.Equal(res.Created, []string{"srs.key"}) || len(res.Fetched) != 0 {
		t.Fatalf("Sync: %+v, %v", res, err)
	}
	if read(t, dir, "srs.key") != "new secret" || string(st.files["srs.key"]) != "new secret" {
		t.Fatal("the made secret is not in both")
	}

	// Another node's put wins the race.
	dir = t.TempDir()
	st = newMem(nil)
	st.beforePut = func(name string) {
		st.beforePut = nil
		st.files[name] = []byte("the other node's")
	}
	res, err = Sync(ctx, st, dir, Options{Make: map[string]func() ([]byte, error){"srs.key": mk}})
	if err != nil || !slices.Equal(res.Fetched, []string{"srs.key"}) || len(res.Created) != 0 {
		t.Fatalf("Sync after losing the race: %+v, %v", res, err)
	}
	if got := read(t, dir, "srs.key"); got != "the other node's" {
		t.Fatalf("data_dir holds %q", got)
	}

	// Present on one side: taken, never made.
	calls = 0
	dir = t.TempDir()
	write(t, dir, "srs.key", "local")
	st = newMem(nil)
	if _, err := Sync(ctx, st, dir, Options{Make: map[string]func() ([]byte, error){"srs.key": mk}}); err != nil || calls != 0 {
		t.Fatalf("Sync with a local secret: %v, %d made", err, calls)
	}
	if string(st.files["srs.key"]) != "local" {
		t.Fatal("the local secret was not published")
	}
}

// TestPublish: only the names under the prefix; the same content again is
// nothing; other content is a ConflictError.
func TestPublish(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "dkim/example.org/postel-rsa.key", "rsa")
	write(t, dir, "dkim/example.org/postel-ed25519.key", "ed")
	write(t, dir, "dkim/example.net/postel-rsa.key", "net")
	write(t, dir, "srs.key", "srs")
	st := newMem(map[string]string{"dkim/example.org/postel-ed25519.key": "ed"})
	done, err := Publish(ctx, st, dir, "dkim/example.org/")
	if err != nil || !slices.Equal(done, []string{"dkim/example.org/postel-ed25519.key", "dkim/example.org/postel-rsa.key"}) {
		t.Fatalf("Publish: %v, %v", done, err)
	}
	if len(st.files) != 2 {
		t.Fatalf("the store holds %v", slices.Sorted(maps.Keys(st.files)))
	}
	st.files["dkim/example.net/postel-rsa.key"] = []byte("other")
	var ce *ConflictError
	if _, err := Publish(ctx, st, dir, "dkim/example.net/"); !errors.As(err, &ce) {
		t.Fatalf("Publish over other content: %v", err)
	}
}

// TestLocalRefusesEmpty: an empty key file is an error, not a secret to
// hand to every node.
func TestLocalRefusesEmpty(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "srs.key", "")
	if _, err := Local(dir); err == nil || !strings.Contains(err.Error(), "srs.key has 0 bytes") {
		t.Fatalf("Local: %v", err)
	}
}
