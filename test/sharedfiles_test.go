package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"postel/internal/dkim"
	"postel/internal/testutil/pgtest"
)

// The secrets every node of one PostgreSQL store holds alike, the DKIM
// keys (data_dir/dkim/DOMAIN/SELECTOR.key), the SRS secret
// (data_dir/srs.key) and the IMAP OBJECTID secret (data_dir/objectid.key),
// travel through the store (store.SharedFiles,
// internal/sharedfiles): a node starting with an empty data dir writes
// them there, keys made on one node reach the others at their reload or
// start, and a node whose own key differs from the store's refuses to
// start rather than sign with another key.

// sharedNames are the files of the data dir the nodes share, as this test
// makes them.
func sharedNames(domains ...string) []string {
	out := []string{"objectid.key", "srs.key"}
	for _, d := range domains {
		out = append(out, "dkim/"+d+"/postel-ed25519.key", "dkim/"+d+"/postel-rsa.key")
	}
	return out
}

// sameFiles checks that the nodes hold each name byte for byte alike,
// private (0600, in 0700 directories on the node that fetched it).
func sameFiles(t *testing.T, a, b *instance, names []string) {
	t.Helper()
	for _, name := range names {
		pa, pb := filepath.Join(a.dir, "data", name), filepath.Join(b.dir, "data", name)
		da, err := os.ReadFile(pa)
		if err != nil {
			t.Fatalf("node A: %v", err)
		}
		db, err := os.ReadFile(pb)
		if err != nil {
			t.Fatalf("node B: %v", err)
		}
		if !bytes.Equal(da, db) {
			t.Fatalf("%s differs between the nodes", name)
		}
		for _, p := range []string{pa, pb} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, %v; want mode 0600", p, fi.Mode(), err)
			}
			if dir := filepath.Dir(p); strings.Contains(name, "/") {
				if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
					t.Fatalf("%s: %v, %v; want mode 0700", dir, fi.Mode(), err)
				}
			}
		}
	}
}

// dkimRecords runs postel dkim gen or show on a node and returns the TXT
// records it printed, by name.
func dkimRecords(t *testing.T, in *instance, args ...string) map[string]string {
	t.Helper()
	out := in.admin("", args...)
	recs := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		name, rest, ok := strings.Cut(line, " IN TXT ( ")
		if !ok {
			continue
		}
		v := strings.ReplaceAll(strings.TrimSuffix(rest, " )"), `" "`, "")
		recs[strings.TrimSuffix(name, ".")] = strings.Trim(v, `"`)
	}
	if len(recs) != 2 {
		t.Fatalf("postel %s printed %d records:\n%s", strings.Join(args, " "), len(recs), out)
	}
	return recs
}

// TestSharedFiles: node A's DKIM keys (made by postel dkim gen, which puts
// them into the store, and keys already in its data dir, which its start
// puts there) and its SRS secret reach node B, started with an empty data
// dir, byte for byte; B signs what it sends with A's keys; keys made
// through either node's control socket reach the other at its start or
// postel reload; a node whose own key differs from the store's refuses to
// start, naming the file, and a reload that meets one keeps the node's,
// says so, and applies the rest.
func TestSharedFiles(t *testing.T) {
	dsn := pgtest.Shared(t).NewDatabase(t)
	mx := newFakeMX(t)
	cfg := mx.config(t, "poll_interval = \"500ms\"\n")
	a, b := newNode(t, dsn, cfg), newNode(t, dsn, cfg)
	a.setup()
	// With no server running: made in A's data dir and put into the store.
	records := dkimRecords(t, a, "dkim", "gen", "example.org")
	// Keys A had before it was a node of the store: its start puts them
	// there.
	if _, err := dkim.Generate(filepath.Join(a.dir, "data", "dkim"), "example.net"); err != nil {
		t.Fatal(err)
	}
	a.start()
	a.waitLogLine(t, 0, "shared files", `published="[dkim/example.net/postel-ed25519.key dkim/example.net/postel-rsa.key]"`, `created="[objectid.key srs.key]"`)

	entries, _ := os.ReadDir(filepath.Join(b.dir, "data"))
	if len(entries) != 0 {
		t.Fatalf("node B's data dir is not empty: %v", entries)
	}
	b.start()
	b.waitLogLine(t, 0, "shared files", `fetched="[dkim/example.net/postel-ed25519.key dkim/example.net/postel-rsa.key `+
		`dkim/example.org/postel-ed25519.key dkim/example.org/postel-rsa.key objectid.key srs.key]"`)
	b.waitLogLine(t, 0, "DKIM signing", "example.net", "example.org")
	sameFiles(t, a, b, sharedNames("example.org", "example.net"))
	if got := dkimRecords(t, b, "dkim", "show", "example.org"); fmt.Sprint(got) != fmt.Sprint(records) {
		t.Fatalf("node B shows %v, node A made %v", got, records)
	}

	// Only B sends (the queue is shared): what it sends carries A's
	// signatures, verified against the records A's dkim gen printed.
	if err := a.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("node A: %v", err)
	}
	b.submit(t, "signed by node B")
	var msg string
	select {
	case msg = <-mx.got:
	case <-time.After(time.Minute):
		t.Fatalf("node B sent nothing; its log:\n%s", b.stderr.String())
	}
	verifs, err := msgdkim.VerifyWithOptions(strings.NewReader(msg), &msgdkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			if v, ok := records[name]; ok {
				return []string{v}, nil
			}
			return nil, fmt.Errorf("no TXT record %s", name)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range verifs {
		if v.Err != nil || v.Domain != "example.org" {
			t.Errorf("DKIM signature of %s: %v", v.Domain, v.Err)
		}
	}
	selectors := map[string]bool{}
	for _, h := range headerValues(msg, "DKIM-Signature") {
		for _, tag := range strings.Split(h, ";") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(tag), "s="); ok {
				selectors[s] = true
			}
		}
	}
	if len(verifs) != 2 || !selectors["postel-ed25519"] || !selectors["postel-rsa"] {
		t.Fatalf("%d signatures, selectors %v; want A's two keys", len(verifs), selectors)
	}

	// Keys made through B's control socket reach A at its start.
	b.admin("", "dkim", "gen", "example.com")
	a.start()
	a.waitLogLine(t, 0, "shared files", `fetched="[dkim/example.com/postel-ed25519.key dkim/example.com/postel-rsa.key]"`)
	sameFiles(t, a, b, sharedNames("example.com"))
	// Keys made through A's control socket reach B at its reload.
	gen := a.admin("", "dkim", "gen", "example.edu")
	if !strings.Contains(gen, "every node of it takes them at its next postel reload or start") {
		t.Fatalf("dkim gen on a node of a shared store printed:\n%s", gen)
	}

	// A reload that meets a conflict: B's own example.net RSA key is
	// another now (an operator's mistake). B keeps it and says so, and
	// the rest of the reload is done: example.edu's keys fetched and
	// signed with.
	other := t.TempDir()
	if _, err := dkim.Generate(other, "example.net"); err != nil {
		t.Fatal(err)
	}
	otherKey, err := os.ReadFile(filepath.Join(other, "example.net", "postel-rsa.key"))
	if err != nil {
		t.Fatal(err)
	}
	conflicting := filepath.Join(b.dir, "data", "dkim", "example.net", "postel-rsa.key")
	if err := os.WriteFile(conflicting, otherKey, 0o600); err != nil {
		t.Fatal(err)
	}
	mark := b.logLen()
	out, err := b.tryAdmin("", "reload")
	if err == nil || !strings.Contains(out, conflicting+" differs from the copy in the store") {
		t.Fatalf("postel reload with a conflicting key: %v\n%s", err, out)
	}
	b.waitLogLine(t, mark, "shared files", `fetched="[dkim/example.edu/postel-ed25519.key dkim/example.edu/postel-rsa.key]"`)
	b.waitLogLine(t, mark, "DKIM signing", "example.edu")
	b.waitLogLine(t, mark, "reload: kept what was in use", conflicting)
	sameFiles(t, a, b, sharedNames("example.edu"))
	if got, _ := os.ReadFile(conflicting); !bytes.Equal(got, otherKey) {
		t.Fatal("the reload replaced node B's key")
	}

	// Started so, B refuses, naming the file.
	if err := b.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("node B: %v", err)
	}
	if err := b.tryStart(); err == nil {
		t.Fatal("node B started with a key that differs from the store's")
	}
	if log := b.stderr.String(); !strings.Contains(log, conflicting+" differs from the copy in the store") ||
		!strings.Contains(log, "neither was replaced") {
		t.Fatalf("node B's start failed without naming the file:\n%s", log)
	} else {
		t.Logf("node B's start failed:\n%s", log[strings.LastIndex(strings.TrimSpace(log), "\n")+1:])
	}
	if got, _ := os.ReadFile(conflicting); !bytes.Equal(got, otherKey) {
		t.Fatal("the failed start replaced node B's key")
	}
	// The store kept A's: a node with an empty data dir gets it.
	c := newNode(t, dsn, cfg)
	c.start()
	sameFiles(t, a, c, sharedNames("example.org", "example.net", "example.com", "example.edu"))
}
