package test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"postel/internal/dns/dnstest"
)

// zoneRecords returns the records of zone-file text (comments and blank
// lines left out), each checked to parse as a DNS server reads it.
func zoneRecords(t *testing.T, text string) []mdns.RR {
	t.Helper()
	var out []mdns.RR
	for line := range strings.SplitSeq(text, "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, ";") || !strings.Contains(line, " IN ") {
			continue
		}
		rr, err := mdns.NewRR(line)
		if err != nil || rr == nil {
			t.Fatalf("printed record %q does not parse: %v", line, err)
		}
		out = append(out, rr)
	}
	return out
}

// rrKey names a record by type and owner: "SRV _imaps._tcp.example.test.".
func rrKey(rr mdns.RR) string {
	return mdns.TypeToString[rr.Header().Rrtype] + " " + rr.Header().Name
}

// setKeys sets keys of one table of a TOML file written by postel init,
// where every key is present; a key not found fails the test.
func setKeys(t *testing.T, text, table string, values map[string]string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	current, done := "", map[string]bool{}
	for i, line := range lines {
		if strings.HasPrefix(line, "[") {
			current = strings.Trim(line, "[]")
			continue
		}
		name, _, ok := strings.Cut(line, " = ")
		if v, set := values[name]; ok && set && current == table {
			lines[i] = name + " = " + v
			done[name] = true
		}
	}
	for k := range values {
		if !done[k] {
			t.Fatalf("no key %s in [%s] of the written config", k, table)
		}
	}
	return strings.Join(lines, "\n")
}

// TestQuickstart is the quickstart as a test: postel init on an empty
// directory prints the records and a password; serve runs on that config
// (its ports and resolver changed for the test); a message sent with swaks
// is read back with curl over IMAPS; dns check against a DNS server that
// publishes what init printed but two records names exactly those two.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	configPath := filepath.Join(dir, "etc", "postel.toml")
	dataDir := filepath.Join(dir, "data")
	out, code := runPostel(t, "", "init", "example.test", "--hostname", "mx.example.test", "--data-dir", dataDir, "--config", configPath)
	if code != 0 {
		t.Fatalf("postel init: exit %d\n%s", code, out)
	}
	m := regexp.MustCompile(`Password of postmaster@example\.test \(shown only this once\): (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("postel init printed no password:\n%s", out)
	}
	password := m[1]

	// Every record the domain needs, each after a comment saying why.
	records := zoneRecords(t, out)
	var got []string
	for _, rr := range records {
		got = append(got, rrKey(rr))
	}
	want := []string{
		"MX example.test.", "TXT example.test.",
		"TXT postel-ed25519._domainkey.example.test.", "TXT postel-rsa._domainkey.example.test.",
		"TXT _dmarc.example.test.", "TXT _mta-sts.example.test.", "CNAME mta-sts.example.test.", "TXT _smtp._tls.example.test.",
		"SRV _submissions._tcp.example.test.", "SRV _submission._tcp.example.test.",
		"SRV _imaps._tcp.example.test.", "SRV _imap._tcp.example.test.",
		"SRV _pop3s._tcp.example.test.", "SRV _pop3._tcp.example.test.",
		"CNAME autoconfig.example.test.", "SRV _autodiscover._tcp.example.test.",
		// No CAA: ACME is off for a .test name, which no CA issues for.
	}
	if !slices.Equal(got, want) {
		t.Errorf("postel init printed records\n%s\nwant\n%s\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	for _, line := range []string{
		"example.test. IN MX 10 mx.example.test.",
		`example.test. IN TXT "v=spf1 mx -all"`,
		`_dmarc.example.test. IN TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test"`,
		"_imaps._tcp.example.test. IN SRV 0 1 993 mx.example.test.",
		"; mx.example.test. IN A <this server's public IPv4 address>",
	} {
		if !strings.Contains(out, "\n"+line+"\n") {
			t.Errorf("postel init did not print %q", line)
		}
	}
	// The DKIM records are those of the keys init made, as dkim show prints them.
	show, code := runPostel(t, "", "dkim", "show", "example.test", "--config", configPath)
	if code != 0 {
		t.Fatalf("postel dkim show: exit %d\n%s", code, show)
	}
	keys := zoneRecords(t, show)
	if len(keys) != 2 {
		t.Fatalf("dkim show printed %d records:\n%s", len(keys), show)
	}
	for _, k := range keys {
		if !slices.ContainsFunc(records, func(rr mdns.RR) bool { return mdns.IsDuplicate(rr, k) }) {
			t.Errorf("init did not print the DKIM record %s", k)
		}
	}

	// The config: complete, commented, ACME off for this name, private.
	written, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"\n[acme]\n", "\nenabled = false\n", "# Off: mx.example.test is a special-use or documentation name", "\n[queue]\n", "\nhostname = \"mx.example.test\"\n"} {
		if !strings.Contains(string(written), s) {
			t.Errorf("the written config lacks %q", s)
		}
	}
	for path, mode := range map[string]os.FileMode{configPath: 0o600, dataDir: 0o700} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %o", path, fi, err, mode)
		}
	}
	// A second init refuses, and leaves the config as it was.
	again, code := runPostel(t, "", "init", "example.test", "--data-dir", filepath.Join(dir, "other"), "--config", configPath)
	if code != 1 || !strings.Contains(again, "postel.toml: file already exists") {
		t.Errorf("second init: exit %d\n%s", code, again)
	}
	if now, _ := os.ReadFile(configPath); !bytes.Equal(now, written) {
		t.Error("the second init changed the config")
	}
	if _, err := os.Stat(filepath.Join(dir, "other")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused init made its data dir: %v", err)
	}

	// A DNS server with the records init printed, but for two, and the
	// host's address, which init leaves to the operator.
	dnsSrv := dnstest.New(t)
	var left []mdns.RR
	for _, rr := range records {
		if k := rrKey(rr); k == "TXT _dmarc.example.test." || k == "SRV _imaps._tcp.example.test." {
			left = append(left, rr)
			continue
		}
		dnsSrv.Add(rr.String())
	}
	dnsSrv.Add("mx.example.test. 300 IN A 192.0.2.1")

	// Serve with that config: only its ports and resolver changed.
	in := &instance{t: t, dir: dir, config: configPath}
	in.killAtCleanup()
	rewrite := func() {
		ports := freePorts(t, len(mailListeners)+1)
		in.ports = map[string]string{}
		listen := map[string]string{"https": fmt.Sprintf("%q", ports[len(mailListeners)])}
		for i, k := range mailListeners {
			in.ports[k] = ports[i]
			listen[k] = fmt.Sprintf("%q", ports[i])
		}
		text := setKeys(t, string(written), "listen", listen)
		text = setKeys(t, text, "dns", map[string]string{"servers": fmt.Sprintf("[%q]", dnsSrv.Addr), "timeout": `"2s"`})
		if err := os.WriteFile(configPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rewrite()
	for try := 1; ; try++ {
		err := in.tryStart()
		if err == nil {
			break
		}
		if try == 3 || !strings.Contains(in.stderr.String(), "address already in use") {
			t.Fatalf("%v\n%s", err, in.stderr.String())
		}
		rewrite()
	}

	// Send as the new account, to itself, and read it over IMAPS.
	mustRun(t, "swaks", "--server", in.ports["submission"], "--tls", "--auth", "PLAIN",
		"--auth-user", "postmaster@example.test", "--auth-password", password,
		"--from", "postmaster@example.test", "--to", "postmaster@example.test",
		"--header", "Subject: Hello from the quickstart", "--body", "It works.")
	msg := mustRun(t, "curl", "-sSk", "--user", "postmaster@example.test:"+password, "imaps://"+in.ports["imaps"]+"/INBOX;UID=1")
	if !strings.Contains(msg, "Subject: Hello from the quickstart") || !strings.Contains(msg, "It works.") {
		t.Errorf("curl fetched:\n%s", msg)
	}

	// dns check names exactly the two records left out, and fails.
	report, code := runPostel(t, "", "dns", "check", "example.test", "--config", configPath)
	if code != 1 {
		t.Errorf("dns check with two records missing: exit %d, want 1\n%s", code, report)
	}
	notOK := regexp.MustCompile(`(?m)^(MISSING|WRONG|UNKNOWN) +(\S+) +(\S+)$`).FindAllStringSubmatch(report, -1)
	var problems []string
	for _, p := range notOK {
		problems = append(problems, p[1]+" "+p[2]+" "+p[3])
	}
	if want := []string{"MISSING TXT _dmarc.example.test.", "MISSING SRV _imaps._tcp.example.test."}; !slices.Equal(problems, want) {
		t.Errorf("dns check found %q, want %q\n%s", problems, want, report)
	}
	if n := len(regexp.MustCompile(`(?m)^OK +`).FindAllString(report, -1)); n != len(records)+1-2 { // the host's address too
		t.Errorf("dns check: %d OK, want %d\n%s", n, len(records)+1-2, report)
	}
	// Published, they pass.
	for _, rr := range left {
		dnsSrv.Add(rr.String())
	}
	if report, code := runPostel(t, "", "dns", "check", "example.test", "--config", configPath); code != 0 || strings.Contains(report, "MISSING") {
		t.Errorf("dns check with every record: exit %d\n%s", code, report)
	}
}

// TestConfigCheckRefuses runs config check on configs with one mistake
// each: it exits 1 with a message naming the mistake, and 0 on the same
// config without it.
func TestConfigCheckRefuses(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := writeTestCert(t, dir, "mx", "mx.example.test")
	_, otherKey := writeTestCert(t, dir, "other", "other.example.net")
	otherCert, otherCertKey := writeTestCert(t, dir, "third", "third.example.net")
	good := fmt.Sprintf("hostname = \"mx.example.test\"\ndata_dir = %q\n", dataDir)
	tests := []struct {
		name, config, want string
	}{
		{"valid", good + fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", cert, key), ""},
		{"misspelled key", good + "[smtp]\nmax_mesage_size = 1000\n", `config: unknown key "smtp.max_mesage_size" (did you mean "smtp.max_message_size"?)`},
		{"not a FQDN", fmt.Sprintf("hostname = \"mx\"\ndata_dir = %q\n", dataDir), `config: hostname: "mx" is not a fully qualified domain name`},
		{"data dir mistyped", fmt.Sprintf("hostname = \"mx.example.test\"\ndata_dir = %q\n", filepath.Join(dir, "dta")), "config: data_dir: " + filepath.Join(dir, "dta") + " does not exist"},
		{"key of another certificate", good + fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", cert, otherKey), "is not the key of the certificate in " + cert},
		{"certificate for another name", good + fmt.Sprintf("[tls]\ncert_file = %q\nkey_file = %q\n", otherCert, otherCertKey), `which does not cover hostname "mx.example.test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "postel.toml")
			if err := os.WriteFile(path, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := runPostel(t, "", "config", "check", "--config", path)
			if tt.want == "" {
				if code != 0 {
					t.Errorf("exit %d, want 0\n%s", code, out)
				}
				return
			}
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want 1 with %q\n%s", code, tt.want, out)
			}
		})
	}
}

// TestConfigCheckUnwritableDataDir: config check refuses a data dir the
// server's user cannot write to. Root writes anywhere, so when the test
// runs as root the binary runs as nobody (uid 65534); the same check on a
// data dir nobody owns passes, so the refusal is the directory's doing.
func TestConfigCheckUnwritableDataDir(t *testing.T) {
	base, err := os.MkdirTemp("", "postel-unwritable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	// Where another user can reach the binary and the config.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "postel")
	copyFile(t, binary, bin, 0o755)
	dataDir := filepath.Join(base, "data")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(base, "postel.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("hostname = \"mx.example.test\"\ndata_dir = %q\n", dataDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	uid := os.Getuid()
	check := func() (string, int) {
		cmd := exec.Command(bin, "config", "check", "--config", path)
		if os.Getuid() == 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if uid == 0 {
		uid = 65534 // root's data dir, mode 0755: nobody may not write
	} else if err := os.Chmod(dataDir, 0o500); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("config: data_dir: this user (uid %d) cannot create files in %s: permission denied", uid, dataDir)
	if out, code := check(); code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d, want 1 with %q\n%s", code, want, out)
	}
	// The same directory made writable for that user passes.
	if os.Getuid() == 0 {
		err = os.Chown(dataDir, 65534, 65534)
	} else {
		err = os.Chmod(dataDir, 0o700)
	}
	if err != nil {
		t.Fatal(err)
	}
	if out, code := check(); code != 0 {
		t.Errorf("writable data dir: exit %d\n%s", code, out)
	}
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeTestCert writes a self-signed certificate for names and its key as
// PEM files dir/prefix.crt and dir/prefix.key.
func writeTestCert(t *testing.T, dir, prefix string, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, prefix+".crt"), filepath.Join(dir, prefix+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
