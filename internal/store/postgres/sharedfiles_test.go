package postgres

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"postel/internal/store"
)

// TestSharedFiles: a file put through one node is read through the other;
// the same content again is accepted, other content is ErrExists and
// leaves the stored file alone; names outside the shared secrets and
// empty or oversized contents are ErrInvalid; two nodes putting one name
// at once end with one content, the other told ErrExists.
func TestSharedFiles(t *testing.T) {
	dsn := newDB(t)
	a, b := open(t, dsn), open(t, dsn)
	if got, err := b.SharedFiles(ctx); err != nil || len(got) != 0 {
		t.Fatalf("SharedFiles of an empty store: %v, %v", got, err)
	}
	key := []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n")
	srsKey := bytes.Repeat([]byte{0, 0xff, '\n'}, 11)[:32] // any bytes, NUL included
	want := map[string][]byte{"dkim/example.org/postel-ed25519.key": key, "srs.key": srsKey}
	for name, data := range want {
		if err := a.PutSharedFile(ctx, name, data); err != nil {
			t.Fatalf("PutSharedFile(%s): %v", name, err)
		}
	}
	if err := b.PutSharedFile(ctx, "srs.key", bytes.Clone(srsKey)); err != nil {
		t.Fatalf("the same content again, through the other node: %v", err)
	}
	if err := b.PutSharedFile(ctx, "srs.key", bytes.Repeat([]byte{1}, 32)); !errors.Is(err, store.ErrExists) {
		t.Fatalf("other content: %v, want ErrExists", err)
	}
	got, err := b.SharedFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("SharedFiles = %q, want %q", got, want)
	}

	for _, name := range []string{"", "postel.db", "/srs.key", "../srs.key", "dkim/../srs.key", "dkim/example.org/../../x.key",
		"tls/key.pem", "dkim/example.org/postel-rsa.pem", "dkim/EXAMPLE.org/postel-rsa.key"} {
		if err := a.PutSharedFile(ctx, name, key); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutSharedFile(%q): %v, want ErrInvalid", name, err)
		}
	}
	for _, data := range [][]byte{nil, {}, make([]byte, store.MaxSharedFileSize+1)} {
		if err := a.PutSharedFile(ctx, "dkim/example.net/postel-rsa.key", data); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutSharedFile of %d bytes: %v, want ErrInvalid", len(data), err)
		}
	}
	if err := a.PutSharedFile(ctx, "dkim/example.net/postel-rsa.key", make([]byte, store.MaxSharedFileSize)); err != nil {
		t.Errorf("PutSharedFile of MaxSharedFileSize bytes: %v", err)
	}

	// Two nodes racing for one name: one wins, the other is told.
	const name = "dkim/race.example/postel-rsa.key"
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, st := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = st.PutSharedFile(ctx, name, []byte{byte('A' + i)})
		}()
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), store.ErrExists) {
		t.Fatalf("racing puts: %v", errs)
	}
	got, err = a.SharedFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	winner := 0
	if errs[0] != nil {
		winner = 1
	}
	if !bytes.Equal(got[name], []byte{byte('A' + winner)}) {
		t.Fatalf("%s holds %q, want the winner's", name, got[name])
	}
	names := slices.Sorted(maps.Keys(got))
	if strings.Join(names, " ") != "dkim/example.net/postel-rsa.key dkim/example.org/postel-ed25519.key dkim/race.example/postel-rsa.key srs.key" {
		t.Fatalf("stored names %v", names)
	}
}
