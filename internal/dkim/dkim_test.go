package dkim

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"postel/internal/message"
)

// keyDir holds keys for example.org, made once per test binary (RSA key
// generation is slow).
var keyDir = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "dkimtest")
	if err != nil {
		return "", err
	}
	_, err = Generate(dir, "Example.ORG")
	return dir, err
})

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := keyDir(); err == nil {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func testSigner(t *testing.T) (*Signer, string) {
	t.Helper()
	dir, err := keyDir()
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// lookup serves the records of the keys under dir to the verifier.
func lookup(t *testing.T, dir string) func(string) ([]string, error) {
	recs, err := Records(dir, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	return func(name string) ([]string, error) {
		for _, r := range recs {
			if strings.TrimSuffix(r.Name, ".") == strings.TrimSuffix(name, ".") {
				return []string{r.Value}, nil
			}
		}
		return nil, fmt.Errorf("no record %s", name)
	}
}

func TestGenerate(t *testing.T) {
	_, dir := testSigner(t)
	for _, sel := range []string{SelectorEd25519, SelectorRSA} {
		fi, err := os.Stat(filepath.Join(dir, "example.org", sel+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", sel, fi.Mode().Perm())
		}
	}
	if _, err := Generate(dir, "example.org."); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second Generate: %v, want fs.ErrExist", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "example.org", ".tmp-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	recs, err := Records(dir, "EXAMPLE.org")
	if err != nil {
		t.Fatal(err)
	}
	want := []*regexp.Regexp{
		regexp.MustCompile(`^postel-ed25519\._domainkey\.example\.org\. v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$`),
		regexp.MustCompile(`^postel-rsa\._domainkey\.example\.org\. v=DKIM1; k=rsa; p=MIIBIjAN[A-Za-z0-9+/]+=*$`),
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		if s := r.Name + " " + r.Value; !want[i].MatchString(s) {
			t.Errorf("record %d = %q", i, s)
		}
	}
	// The RSA record is longer than one character-string.
	z := recs[1].Zone()
	parts := regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(z, -1)
	if len(parts) < 2 {
		t.Fatalf("zone line %q not split", z)
	}
	var joined string
	for _, p := range parts {
		if len(p[1]) > 255 {
			t.Errorf("character-string of %d octets", len(p[1]))
		}
		joined += p[1]
	}
	if joined != recs[1].Value || !strings.HasPrefix(z, "postel-rsa._domainkey.example.org. IN TXT ( ") {
		t.Errorf("zone line %q", z)
	}

	if _, err := Records(dir, "other.example"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Records of a domain without keys: %v", err)
	}
}

func TestBadDomains(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"", "org", "../etc", "a/b.example", "ex ample.org", "-a.example", "a..example", "a_b.example",
		strings.Repeat("a", 64) + ".example"} {
		if _, err := Generate(dir, d); err == nil {
			t.Errorf("Generate(%q) succeeded", d)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("bad domains left %d entries", len(entries))
	}
	if d, err := normalizeDomain("Bücher.Example."); err != nil || d != "xn--bcher-kva.example" {
		t.Errorf("normalizeDomain(IDN) = %q, %v", d, err)
	}
}

const testMessage = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"X-Unsigned: whatever\r\n" +
	"\r\n" +
	"Hello Bob.\r\n"

func signAndVerify(t *testing.T, s *Signer, dir, msg string, tamper func(string) string) ([]*msgdkim.Verification, string) {
	t.Helper()
	sig, err := s.Sign(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	signed := string(sig) + msg
	if tamper != nil {
		signed = tamper(signed)
	}
	vs, err := msgdkim.VerifyWithOptions(strings.NewReader(signed), &msgdkim.VerifyOptions{LookupTXT: lookup(t, dir)})
	if err != nil {
		t.Fatal(err)
	}
	return vs, string(sig)
}

func TestSignVerifies(t *testing.T) {
	s, dir := testSigner(t)
	vs, sig := signAndVerify(t, s, dir, testMessage, nil)
	if len(vs) != 2 {
		t.Fatalf("%d signatures, want 2", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil || v.Domain != "example.org" {
			t.Errorf("verification %+v", v)
		}
	}
	for _, want := range []string{"a=ed25519-sha256", "a=rsa-sha256", "s=postel-ed25519", "s=postel-rsa", "c=relaxed/relaxed"} {
		if !strings.Contains(sig, want) {
			t.Errorf("signatures lack %q:\n%s", want, sig)
		}
	}
	// h=: present fields signed, From/To/Subject/Date/Cc once more
	// (Cc although absent), unlisted fields not signed.
	h := regexp.MustCompile(`[:;]h=([^;]*);`).FindStringSubmatch(strings.NewReplacer("\r\n", "", " ", "").Replace(sig))
	if h == nil {
		t.Fatalf("no h= in %s", sig)
	}
	wantH := "From:From:Subject:Subject:Date:Date:To:To:Cc:Message-ID"
	if h[1] != wantH {
		t.Errorf("h=%s, want %s", h[1], wantH)
	}
}

func TestSignatureBreaks(t *testing.T) {
	s, dir := testSigner(t)
	tampers := map[string]func(string) string{
		"added Cc":      func(m string) string { return strings.Replace(m, "Subject:", "Cc: eve@example.com\r\nSubject:", 1) },
		"second From":   func(m string) string { return strings.Replace(m, "To:", "From: eve@example.com\r\nTo:", 1) },
		"body changed":  func(m string) string { return strings.Replace(m, "Hello Bob", "Hello Eve", 1) },
		"subject edits": func(m string) string { return strings.Replace(m, "Subject: hello", "Subject: [list] hello", 1) },
	}
	for name, f := range tampers {
		vs, _ := signAndVerify(t, s, dir, testMessage, f)
		if len(vs) != 2 {
			t.Errorf("%s: %d signatures found, want 2", name, len(vs))
		}
		for _, v := range vs {
			if v.Err == nil {
				t.Errorf("%s: signature %s still verifies", name, v.Domain)
			}
		}
	}
	// Unsigned fields and relaxed canonicalization tolerate harmless changes.
	vs, _ := signAndVerify(t, s, dir, testMessage, func(m string) string {
		return strings.Replace(m, "X-Unsigned: whatever", "X-Unsigned: other", 1) + "\r\n\r\n"
	})
	if len(vs) != 2 {
		t.Errorf("harmless change: %d signatures found, want 2", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("harmless change broke %v", v.Err)
		}
	}
}

func TestSignChoosesDomain(t *testing.T) {
	s, _ := testSigner(t)
	tests := []struct {
		from, wantD string
	}{
		{"From: a@example.org", "example.org"},
		{"From: a@mail.EXAMPLE.org", "example.org"}, // parent domain
		{"FROM: =?x-unknown?q?A?= <a@example.org>", "example.org"},
		{"From: a@example.net", ""},
		{"From: not an address", ""},
		{"Subject: no from", ""},
	}
	for _, tt := range tests {
		sig, err := s.Sign(strings.NewReader(tt.from + "\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatalf("%q: %v", tt.from, err)
		}
		if tt.wantD == "" {
			if sig != nil {
				t.Errorf("%q signed: %s", tt.from, sig)
			}
			continue
		}
		if !bytes.Contains(sig, []byte("d="+tt.wantD+";")) {
			t.Errorf("%q: signature %s lacks d=%s", tt.from, sig, tt.wantD)
		}
	}
	if got := s.Domains(); len(got) != 1 || got[0] != "example.org" {
		t.Errorf("Domains = %v", got)
	}
}

// A header line longer than the read buffer must not end the header early.
func TestLongHeaderLine(t *testing.T) {
	s, dir := testSigner(t)
	for _, n := range []int{4094, 4095, 4096, 4097, 9000} {
		msg := "Subject: " + strings.Repeat("x", n) + "\r\n" + testMessage[strings.Index(testMessage, "From:"):]
		msg = strings.Replace(msg, "Subject: hello\r\n", "", 1)
		vs, sig := signAndVerify(t, s, dir, msg, nil)
		if len(vs) != 2 || vs[0].Err != nil || vs[1].Err != nil || !strings.Contains(sig, "From") {
			t.Errorf("line of %d: %v %s", n, vs, sig)
		}
	}
	if _, err := s.Sign(strings.NewReader("From: a@example.org\r\nX: " + strings.Repeat("y", MaxHeaderBytes) + "\r\n\r\n")); err == nil {
		t.Error("oversized header accepted")
	}
}

func TestLoadSignerSkipsStrays(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o600)
	os.Mkdir(filepath.Join(dir, "UPPER.example"), 0o700)
	s, err := LoadSigner(dir)
	if err != nil || len(s.Domains()) != 0 {
		t.Errorf("LoadSigner = %v, %v", s.Domains(), err)
	}
	s, err = LoadSigner(filepath.Join(dir, "missing"))
	if err != nil || len(s.Domains()) != 0 {
		t.Errorf("LoadSigner(missing) = %v, %v", s, err)
	}
	os.Mkdir(filepath.Join(dir, "bad.example"), 0o700)
	os.WriteFile(filepath.Join(dir, "bad.example", SelectorRSA+".key"), []byte("not pem"), 0o600)
	if _, err := LoadSigner(dir); err == nil || !strings.Contains(err.Error(), "bad.example") {
		t.Errorf("corrupt key: %v", err)
	}
}

// FuzzHeader reads arbitrary header blocks: no panic, and whatever the
// fields, From is always in the signed list.
func FuzzHeader(f *testing.F) {
	f.Add([]byte(testMessage))
	f.Add([]byte("From: a@example.org\n\tcontinued\n \nTo: b\r\n\r\n"))
	f.Add([]byte(" leading continuation\r\n:no name\r\nFrom:\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hdr, err := message.ReadHeader(bufio.NewReader(bytes.NewReader(data)), MaxHeaderBytes)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(data, hdr) {
			t.Fatal("header is not a prefix of the message")
		}
		fields := message.Fields(hdr)
		fromDomain(fields)
		keys := HeaderKeys(fields)
		if len(keys) == 0 || keys[0] != "From" {
			t.Fatalf("h= %v", keys)
		}
	})
}

func TestRSAKey(t *testing.T) {
	s, dir := testSigner(t)
	recs, err := Records(dir, "example.org")
	if err != nil {
		t.Fatal(err)
	}
	for _, domain := range []string{"example.org", "Mail.Example.ORG.", "a.b.example.org"} {
		d, sel, key, ok := s.RSAKey(domain)
		if !ok || d != "example.org" || sel != SelectorRSA {
			t.Fatalf("RSAKey(%q) = %q, %q, %v", domain, d, sel, ok)
		}
		rsaKey, isRSA := key.(*rsa.PrivateKey)
		if !isRSA || rsaKey.N.BitLen() != rsaBits {
			t.Fatalf("RSAKey(%q) gave %T", domain, key)
		}
		// The key is the one whose record is published.
		v, err := recordValue(key.Public())
		if err != nil || v != recs[1].Value || recs[1].Name != SelectorRSA+"._domainkey.example.org." {
			t.Errorf("RSAKey(%q): record %q, %v; published %s %q", domain, v, err, recs[1].Name, recs[1].Value)
		}
	}
	for _, domain := range []string{"example.net", "org", "", "bad domain.org"} {
		if d, sel, key, ok := s.RSAKey(domain); ok || d != "" || sel != "" || key != nil {
			t.Errorf("RSAKey(%q) = %q, %q, %v, %v", domain, d, sel, key, ok)
		}
	}

	// A domain with only an Ed25519 key has no RSA key, even when its
	// parent has one: the nearest domain with keys decides.
	only := t.TempDir()
	if _, err := Generate(only, "sub.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(only, "sub.example.org", SelectorRSA+".key")); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(only, "example.org"), os.DirFS(filepath.Join(dir, "example.org"))); err != nil {
		t.Fatal(err)
	}
	s2, err := LoadSigner(only)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := s2.RSAKey("sub.example.org"); ok {
		t.Error("RSAKey found an RSA key for a domain with only Ed25519")
	}
	if d, _, _, ok := s2.RSAKey("example.org"); !ok || d != "example.org" {
		t.Errorf("RSAKey(parent) = %q, %v", d, ok)
	}
}

// TestSignerReload: keys made after the Signer was loaded sign once it
// reloads; a directory it cannot read keeps the keys in use.
func TestSignerReload(t *testing.T) {
	src, err := keyDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s, err := LoadSigner(dir)
	if err != nil || len(s.Domains()) != 0 {
		t.Fatalf("LoadSigner(empty) = %v, %v", s.Domains(), err)
	}
	// The domain's keys arrive (as postel dkim gen writes them).
	if err := os.CopyFS(filepath.Join(dir, "example.org"), os.DirFS(filepath.Join(src, "example.org"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if d := s.Domains(); len(d) != 1 || d[0] != "example.org" {
		t.Fatalf("after Reload: %v", d)
	}
	if _, _, _, ok := s.RSAKey("example.org"); !ok {
		t.Error("no RSA key after Reload")
	}
	os.WriteFile(filepath.Join(dir, "example.org", SelectorRSA+".key"), []byte("not pem"), 0o600)
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a corrupt key succeeded")
	}
	if _, _, _, ok := s.RSAKey("example.org"); !ok {
		t.Error("a failed Reload dropped the keys in use")
	}
}
