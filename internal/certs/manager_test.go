package certs

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// wait bounds every wait for an event; reaching it fails the test.
const wait = 60 * time.Second

// echoServer serves cfg on a real TLS listener on 127.0.0.1: each
// connection echoes the lines it reads. It returns the address.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := tls.Server(c, cfg)
				r := bufio.NewReader(tc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := tc.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial opens a TLS connection asking for serverName. The certificate is
// not verified: the tests compare it with the one they expect.
func dial(t *testing.T, addr, serverName string) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: wait}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// servedSerial returns the serial number of the certificate a new connection
// asking for serverName gets.
func servedSerial(t *testing.T, addr, serverName string) *big.Int {
	t.Helper()
	c := dial(t, addr, serverName)
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber
}

// echo checks that c still carries data both ways.
func echo(t *testing.T, c *tls.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write([]byte(msg + "\n")); err != nil {
		t.Fatalf("old connection: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != msg+"\n" {
		t.Fatalf("old connection: read %q, %v", line, err)
	}
}

// pair makes a self-signed certificate and key for hostname, PEM-encoded,
// and returns the certificate's serial number.
func pair(t *testing.T, hostname string, notAfter time.Time) (certPEM, keyPEM []byte, serial *big.Int) {
	t.Helper()
	certPEM, keyPEM, err := selfSign(hostname, time.Now().Add(-time.Hour), notAfter)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, leaf.SerialNumber
}

// logs is a slog.Handler keeping the records it gets, for tests that wait
// for a record.
type logs struct {
	mu      *sync.Mutex
	records *[]slog.Record
	notify  chan struct{}
}

func newLogs() logs {
	return logs{mu: &sync.Mutex{}, records: new([]slog.Record), notify: make(chan struct{}, 1)}
}

func (l logs) Enabled(context.Context, slog.Level) bool { return true }
func (l logs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logs) WithGroup(string) slog.Handler            { return l }
func (l logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	*l.records = append(*l.records, r.Clone())
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return nil
}

// waitFor waits until a record at level with a message containing msg
// has been logged since the first from records; it returns their count.
func (l logs) waitFor(t *testing.T, from int, level slog.Level, msg string) int {
	t.Helper()
	deadline := time.After(wait)
	for {
		l.mu.Lock()
		rs := *l.records
		l.mu.Unlock()
		for _, r := range rs[min(from, len(rs)):] {
			if r.Level == level && strings.Contains(r.Message, msg) {
				return len(rs)
			}
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("no %v record %q logged", level, msg)
		}
	}
}

// waitCount waits until n records at level with a message containing msg
// have been logged.
func (l logs) waitCount(t *testing.T, level slog.Level, msg string, n int) {
	t.Helper()
	deadline := time.After(wait)
	for {
		l.mu.Lock()
		got := 0
		for _, r := range *l.records {
			if r.Level == level && strings.Contains(r.Message, msg) {
				got++
			}
		}
		l.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-l.notify:
		case <-deadline:
			t.Fatalf("%d %v records %q logged, want %d", got, level, msg, n)
		}
	}
}

func (l logs) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(*l.records)
}

// changes collects what OnChange reports.
type changes chan CertInfo

// next waits for the next change and returns it.
func (c changes) next(t *testing.T) CertInfo {
	t.Helper()
	select {
	case info := <-c:
		return info
	case <-time.After(wait):
		t.Fatal("no certificate change reported")
		return CertInfo{}
	}
}

// none checks that no change is waiting.
func (c changes) none(t *testing.T) {
	t.Helper()
	select {
	case info := <-c:
		t.Fatalf("unexpected change: %s %s serial %x", info.Name, info.Source, info.Leaf.SerialNumber)
	default:
	}
}

func (c changes) report(info CertInfo) { c <- info }

// TestReloadFiles replaces the operator's files in every way an operator
// (or certbot) does, then calls Reload as SIGHUP does: a new handshake gets
// the new certificate, a broken pair keeps the old one, and a connection
// opened at the start keeps working throughout with its certificate.
func TestReloadFiles(t *testing.T) {
	const host = "mail.example.org"
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certA, keyA, serialA := pair(t, host, time.Now().Add(90*24*time.Hour))
	write(t, certPath, certA)
	write(t, keyPath, keyA)

	ch := make(changes, 16)
	m, err := New(Config{Hostname: host, DataDir: t.TempDir(), CertFile: certPath, KeyFile: keyPath,
		PollInterval: time.Hour, OnChange: ch.report, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if info := ch.next(t); info.Source != SourceFile || info.Leaf.SerialNumber.Cmp(serialA) != 0 || info.Name != host {
		t.Fatalf("first change %+v", info)
	}
	addr := echoServer(t, m.TLSConfig())
	old := dial(t, addr, host)
	echo(t, old, "hello")
	if got := servedSerial(t, addr, host); got.Cmp(serialA) != 0 {
		t.Fatalf("served %x, want %x", got, serialA)
	}

	inService := serialA
	steps := []struct {
		name    string
		replace func(t *testing.T) *big.Int // the serial of a usable new pair, or nil
		wantErr string
	}{
		{"renamed over, as certbot's links", func(t *testing.T) *big.Int {
			c, k, serial := pair(t, host, time.Now().Add(90*24*time.Hour))
			write(t, certPath+".new", c)
			write(t, keyPath+".new", k)
			rename(t, keyPath+".new", keyPath)
			rename(t, certPath+".new", certPath)
			return serial
		}, ""},
		{"rewritten in place", func(t *testing.T) *big.Int {
			c, k, serial := pair(t, host, time.Now().Add(90*24*time.Hour))
			write(t, keyPath, k)
			write(t, certPath, c)
			return serial
		}, ""},
		{"garbage certificate", func(t *testing.T) *big.Int {
			write(t, certPath, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
			return nil
		}, "certs: loading"},
		{"key of another certificate", func(t *testing.T) *big.Int {
			c, _, _ := pair(t, host, time.Now().Add(90*24*time.Hour))
			_, k, _ := pair(t, host, time.Now().Add(90*24*time.Hour))
			write(t, certPath, c)
			write(t, keyPath, k)
			return nil
		}, "private key does not match"},
		{"certificate removed", func(t *testing.T) *big.Int {
			if err := os.Remove(certPath); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "no such file"},
		{"fixed", func(t *testing.T) *big.Int {
			c, k, serial := pair(t, host, time.Now().Add(90*24*time.Hour))
			write(t, keyPath, k)
			write(t, certPath, c)
			return serial
		}, ""},
	}
	for _, step := range steps {
		want := step.replace(t)
		err := m.Reload()
		switch {
		case step.wantErr == "" && err != nil:
			t.Fatalf("%s: Reload: %v", step.name, err)
		case step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)):
			t.Fatalf("%s: Reload error %v, want %q", step.name, err, step.wantErr)
		}
		if want != nil {
			if info := ch.next(t); info.Leaf.SerialNumber.Cmp(want) != 0 {
				t.Fatalf("%s: change reported %x, want %x", step.name, info.Leaf.SerialNumber, want)
			}
			inService = want
		}
		ch.none(t)
		if got := servedSerial(t, addr, host); got.Cmp(inService) != 0 {
			t.Errorf("%s: new connection got %x, want %x", step.name, got, inService)
		}
		if got := m.Certificates(); len(got) != 1 || got[0].Leaf.SerialNumber.Cmp(inService) != 0 || got[0].Source != SourceFile {
			t.Errorf("%s: Certificates() = %+v", step.name, got)
		}
		echo(t, old, step.name)
		if got := old.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(serialA) != 0 {
			t.Errorf("%s: the old connection's certificate changed to %x", step.name, got)
		}
	}
}

// TestPollFiles lets the Manager notice changed files by itself.
func TestPollFiles(t *testing.T) {
	const host = "mail.example.org"
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certA, keyA, serialA := pair(t, host, time.Now().Add(90*24*time.Hour))
	write(t, certPath, certA)
	write(t, keyPath, keyA)
	ch := make(changes, 16)
	log := newLogs()
	m, err := New(Config{Hostname: host, DataDir: t.TempDir(), CertFile: certPath, KeyFile: keyPath,
		PollInterval: 5 * time.Millisecond, OnChange: ch.report, Log: slog.New(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ch.next(t)
	addr := echoServer(t, m.TLSConfig())
	old := dial(t, addr, host)

	// A new pair: the poll may catch the certificate before the key (a
	// mismatch, logged and retried when the key changes); it ends with the
	// new pair in service.
	certB, keyB, serialB := pair(t, host, time.Now().Add(90*24*time.Hour))
	write(t, certPath, certB)
	write(t, keyPath, keyB)
	if info := ch.next(t); info.Leaf.SerialNumber.Cmp(serialB) != 0 {
		t.Fatalf("change reported %x, want %x", info.Leaf.SerialNumber, serialB)
	}
	if got := servedSerial(t, addr, host); got.Cmp(serialB) != 0 {
		t.Fatalf("served %x, want %x", got, serialB)
	}

	// A broken certificate is logged, once, and the pair in service stays.
	from := log.count()
	write(t, certPath, []byte("not PEM"))
	log.waitFor(t, from, slog.LevelError, "certificate files not loaded")
	ch.none(t)
	if got := servedSerial(t, addr, host); got.Cmp(serialB) != 0 {
		t.Fatalf("after a broken file, served %x, want %x", got, serialB)
	}

	// Repaired: in service without a Reload.
	certC, keyC, serialC := pair(t, host, time.Now().Add(90*24*time.Hour))
	write(t, keyPath, keyC)
	write(t, certPath, certC)
	for {
		info := ch.next(t)
		if info.Leaf.SerialNumber.Cmp(serialC) == 0 {
			break
		}
	}
	if got := servedSerial(t, addr, host); got.Cmp(serialC) != 0 {
		t.Fatalf("served %x, want %x", got, serialC)
	}
	echo(t, old, "still here")
	if got := old.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(serialA) != 0 {
		t.Errorf("the old connection's certificate changed to %x", got)
	}
}

func rename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestManagerSelfSigned: without files and ACME, the self-signed
// certificate of data_dir/tls is served, and Reload replaces it only when
// it must.
func TestManagerSelfSigned(t *testing.T) {
	const host = "mail.example.org"
	dataDir := t.TempDir()
	ch := make(changes, 16)
	m, err := New(Config{Hostname: "Mail.Example.org.", DataDir: dataDir, OnChange: ch.report, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	first := ch.next(t)
	if first.Source != SourceSelfSigned || first.Name != host || first.Leaf.VerifyHostname(host) != nil {
		t.Fatalf("first certificate %+v", first)
	}
	addr := echoServer(t, m.TLSConfig())
	if got := servedSerial(t, addr, host); got.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatalf("served %x, want %x", got, first.Leaf.SerialNumber)
	}
	// No SNI, or a name of no certificate: the same one.
	if got := servedSerial(t, addr, ""); got.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatalf("without SNI, served %x", got)
	}

	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	ch.none(t)

	// About to expire: Reload makes a new one.
	tlsDir := filepath.Join(dataDir, "tls")
	writePair(t, filepath.Join(tlsDir, "selfsigned.crt"), filepath.Join(tlsDir, "selfsigned.key"), host, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour))
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	second := ch.next(t)
	if second.Leaf.SerialNumber.Cmp(first.Leaf.SerialNumber) == 0 || time.Until(second.NotAfter) < 365*24*time.Hour {
		t.Fatalf("after Reload: %x until %v", second.Leaf.SerialNumber, second.NotAfter)
	}
	if got := servedSerial(t, addr, host); got.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Fatalf("served %x, want %x", got, second.Leaf.SerialNumber)
	}
}

func TestManagerOldTLSRefused(t *testing.T) {
	m, err := New(Config{Hostname: "mail.example.org", DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	for _, cfg := range []*tls.Config{m.TLSConfig(), m.HTTPSTLSConfig()} {
		for _, version := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
			_, serverErr, clientErr := handshake(t, cfg, &tls.Config{
				InsecureSkipVerify: true, // Only the version is under test.
				MinVersion:         version,
				MaxVersion:         version,
			})
			if clientErr == nil || serverErr == nil || !strings.Contains(serverErr.Error(), "unsupported versions") {
				t.Errorf("TLS %x client: server error %v, client error %v", version, serverErr, clientErr)
			}
		}
	}
	// Without ACME, the HTTPS listener offers HTTP only.
	if got := m.HTTPSTLSConfig().NextProtos; strings.Join(got, ",") != "h2,http/1.1" {
		t.Errorf("NextProtos %q", got)
	}
}

func TestPick(t *testing.T) {
	entryFor := func(name string) *entry { return &entry{info: CertInfo{Name: name}} }
	fallback := entryFor("fallback")
	withHost := &served{hostname: "mail.example.org", fallback: fallback, byName: map[string]*entry{
		"mail.example.org":    entryFor("mail.example.org"),
		"mta-sts.example.org": entryFor("mta-sts.example.org"),
	}}
	withoutHost := &served{hostname: "mail.example.org", fallback: fallback, byName: map[string]*entry{
		"mta-sts.example.org": entryFor("mta-sts.example.org"),
	}}
	tests := []struct {
		s         *served
		sni, want string
	}{
		{withHost, "mta-sts.example.org", "mta-sts.example.org"},
		{withHost, "MTA-STS.Example.ORG.", "mta-sts.example.org"},
		{withHost, "mail.example.org", "mail.example.org"},
		{withHost, "", "mail.example.org"},
		{withHost, "autoconfig.example.org", "mail.example.org"},
		{withoutHost, "mta-sts.example.org", "mta-sts.example.org"},
		{withoutHost, "", "fallback"},
		{withoutHost, "mail.example.org", "fallback"},
		{&served{hostname: "mail.example.org", fallback: fallback}, "mta-sts.example.org", "fallback"},
	}
	for _, tt := range tests {
		if got := tt.s.pick(tt.sni).info.Name; got != tt.want {
			t.Errorf("pick(%q) = %s, want %s", tt.sni, got, tt.want)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		hostname string
		domains  []string
		want     string
	}{
		{"mail.example.org", nil, "mail.example.org"},
		{"Mail.Example.org.", []string{"example.org"}, "autoconfig.example.org mail.example.org mta-sts.example.org"},
		{"mx.example.net", []string{"Example.NET.", "example.net", "", "b.example"},
			"autoconfig.b.example autoconfig.example.net mta-sts.b.example mta-sts.example.net mx.example.net"},
	}
	for _, tt := range tests {
		if got := strings.Join(Names(tt.hostname, tt.domains), " "); got != tt.want {
			t.Errorf("Names(%q, %q) = %q, want %q", tt.hostname, tt.domains, got, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	noCerts := filepath.Join(dir, "empty.pem")
	write(t, noCerts, []byte("nothing here\n"))
	domains := func(context.Context) ([]string, error) { return []string{"example.org"}, nil }
	acmeCfg := func(mod func(*ACMEConfig)) *ACMEConfig {
		c := &ACMEConfig{DirectoryURL: "https://127.0.0.1:1/dir", Challenge: "tls-alpn-01", RenewBefore: time.Hour}
		mod(c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no hostname", Config{DataDir: dir}, "empty hostname"},
		{"files: key missing", Config{Hostname: "mail.example.org", DataDir: dir, CertFile: noCerts}, "set both"},
		{"files: unusable", Config{Hostname: "mail.example.org", DataDir: dir, CertFile: noCerts, KeyFile: noCerts}, "certs: loading"},
		{"acme: no domains function", Config{Hostname: "mail.example.org", DataDir: dir, ACME: acmeCfg(func(*ACMEConfig) {})}, "list of local domains"},
		{"acme: challenge", Config{Hostname: "mail.example.org", DataDir: dir, Domains: domains,
			ACME: acmeCfg(func(c *ACMEConfig) { c.Challenge = "dns-01" })}, `challenge "dns-01"`},
		{"acme: roots missing", Config{Hostname: "mail.example.org", DataDir: dir, Domains: domains,
			ACME: acmeCfg(func(c *ACMEConfig) { c.CARoots = filepath.Join(dir, "missing.pem") })}, "no such file"},
		{"acme: roots without certificates", Config{Hostname: "mail.example.org", DataDir: dir, Domains: domains,
			ACME: acmeCfg(func(c *ACMEConfig) { c.CARoots = noCerts })}, "no certificate in"},
		{"acme: domains failing", Config{Hostname: "mail.example.org", DataDir: dir, ACME: acmeCfg(func(*ACMEConfig) {}),
			Domains: func(context.Context) ([]string, error) { return nil, errors.New("store closed") }}, "store closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Log = slog.New(slog.DiscardHandler)
			m, err := New(tt.cfg)
			if err == nil {
				m.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
