package trace

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFiles: the sessions of the chosen accounts, and only theirs, are
// written to one file each, from before their login.
func TestFiles(t *testing.T) {
	h := NewHub()
	dir := filepath.Join(t.TempDir(), "traces")
	w, err := h.WriteFiles([]string{"Alice@Example.org"}, dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	alice := h.Start("pop3", "a", ipA, newEcho)
	bob := h.Start("pop3", "b", ipB, newEcho)
	for _, s := range []*Session{alice, bob} {
		s.Server([]byte("+OK ready\r\n"))
		s.Client([]byte("USER x\r\n"))
	}
	alice.Login("alice@example.org")
	bob.Login("bob@example.org")
	alice.Server([]byte("+OK locked\r\n"))
	bob.Server([]byte("+OK locked\r\n"))
	alice.End()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(FileName(dir, "alice@example.org"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := []string{"S: s +OK ready", "C: c USER x", "S: s +OK locked", "*: connection closed"}
	if len(lines) != len(want) {
		t.Fatalf("file:\n%s", b)
	}
	for i, l := range lines {
		if !strings.HasSuffix(l, " pop3 conn=a 192.0.2.1 alice@example.org "+want[i]) {
			t.Errorf("line %d: %q, want it to end in %q", i, l, want[i])
		}
	}
	if fi, err := os.Stat(FileName(dir, "alice@example.org")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode: %v, %v", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files: %v", entries)
	}
	if got := FileName(dir, "../evil@x/y"); filepath.Dir(got) != dir {
		t.Errorf("FileName left the directory: %s", got)
	}
}
