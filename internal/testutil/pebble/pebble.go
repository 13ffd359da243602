// Package pebble runs Pebble (github.com/letsencrypt/pebble), the ACME
// test server of Let's Encrypt, as a real process for tests: go.mod lists
// it as a tool, so the version the module pins is built. Only tests
// import it.
package pebble

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/testutil"
)

// wait bounds building, starting and every request to Pebble.
const wait = 60 * time.Second

// Options say where Pebble's validation authority connects, which DNS
// server it asks, and how long its certificates last.
type Options struct {
	// TLSPort is where tls-alpn-01 validations connect (on the address the
	// DNS server gives); zero for a port where nothing listens.
	TLSPort int
	// HTTPPort is where http-01 validations connect; zero for a port
	// where nothing listens.
	HTTPPort int
	// DNS is the host:port of the DNS server resolving the names to
	// validate (Pebble's -dnsserver), e.g. a dnstest.Server's Addr.
	DNS string
	// Validity is the lifetime of the certificates Pebble issues.
	Validity time.Duration
}

// Server is a running Pebble, stopped (killed by its PID) when the test
// that started it ends.
type Server struct {
	// Directory is the ACME directory URL.
	Directory string
	// APIRoots is the PEM file of the root of Pebble's own HTTPS
	// certificate (its test "minica"): what a client of the ACME API, such
	// as Postel's [acme] ca_roots, must trust.
	APIRoots string

	mgmt   string       // host:port of the management API
	client *http.Client // trusts APIRoots
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// build builds Pebble into dir and returns the binary and Pebble's module
// directory (which holds its test certificates).
func build(t testing.TB, dir string) (bin, moduleDir string) {
	t.Helper()
	bin = filepath.Join(dir, "pebble")
	cmd := exec.Command(goTool(), "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building Pebble (a tool in go.mod; needs the module, from the module cache or the proxy): %v\n%s", err, out)
	}
	list := exec.Command(goTool(), "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("finding Pebble's module directory: %v", err)
	}
	return bin, strings.TrimSpace(string(out))
}

// FreePort returns a loopback port nothing listened on a moment ago, for
// servers that bind their own ports from a config file: a port taken
// meanwhile makes them fail to start, which their starters retry.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs Pebble on random loopback ports until the test ends, and
// returns once it answers. Pebble validates at once (no sleep), never
// rejects a nonce on purpose, and reuses no authorization, so that every
// order, renewals too, is validated anew against the server under test.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	if opt.TLSPort == 0 {
		opt.TLSPort = FreePort(t)
	}
	if opt.HTTPPort == 0 {
		opt.HTTPPort = FreePort(t)
	}
	dir := t.TempDir()
	bin, moduleDir := build(t, dir)
	certs := filepath.Join(moduleDir, "test", "certs")
	s := &Server{APIRoots: filepath.Join(certs, "pebble.minica.pem")}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(s.APIRoots)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("Pebble's test root %s: %v", s.APIRoots, err)
	}
	s.client = &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(s.client.CloseIdleConnections)

	for try := 1; ; try++ {
		listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		s.mgmt = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		s.Directory = "https://" + listen + "/dir"
		config := map[string]any{"pebble": map[string]any{
			"listenAddress":                  listen,
			"managementListenAddress":        s.mgmt,
			"certificate":                    filepath.Join(certs, "localhost", "cert.pem"),
			"privateKey":                     filepath.Join(certs, "localhost", "key.pem"),
			"httpPort":                       opt.HTTPPort,
			"tlsPort":                        opt.TLSPort,
			"ocspResponderURL":               "",
			"externalAccountBindingRequired": false,
			"retryAfter":                     map[string]int{"authz": 1, "order": 1},
			"keyAlgorithm":                   "ecdsa",
			"profiles": map[string]any{"default": map[string]any{
				"description":    "the only profile, of the test's lifetime",
				"validityPeriod": int64(opt.Validity / time.Second),
			}},
		}}
		data, err := json.Marshal(config)
		if err != nil {
			t.Fatal(err)
		}
		configFile := filepath.Join(dir, "pebble-config.json")
		if err := os.WriteFile(configFile, data, 0o600); err != nil {
			t.Fatal(err)
		}

		out := &testutil.SyncBuffer{}
		cmd := exec.Command(bin, "-config", configFile, "-dnsserver", opt.DNS, "-strict=false")
		cmd.Env = append(os.Environ(),
			"PEBBLE_VA_NOSLEEP=1",      // validate at once
			"PEBBLE_WFE_NONCEREJECT=0", // no artificial badNonce errors
			"PEBBLE_AUTHZREUSE=0",      // every order validates anew, renewals too
		)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
		}
		err = s.waitReady(exited)
		if err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("Pebble's output:\n%s", out.String())
				}
			})
			return s
		}
		stop()
		if try == 3 || !strings.Contains(out.String(), "address already in use") {
			t.Fatalf("Pebble did not start: %v\n%s", err, out.String())
		}
	}
}

// waitReady waits until Pebble answers on both of its ports: Pebble logs
// its addresses before it binds them, so readiness is a request answered,
// over TLS with Pebble's certificate (not some other process that took
// the port). Between attempts it waits for the process to exit, or 20 ms.
func (s *Server) waitReady(exited <-chan error) error {
	deadline := time.After(wait)
	for {
		_, errDir := s.get(s.Directory)
		_, errRoot := s.get("https://" + s.mgmt + "/roots/0")
		if errDir == nil && errRoot == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("Pebble exited: %v", err)
		case <-deadline:
			return fmt.Errorf("Pebble not answering: %v; %v", errDir, errRoot)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// get fetches url from Pebble.
func (s *Server) get(url string) ([]byte, error) {
	resp, err := s.client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return body, nil
}

// IssuingRootPEM returns, in PEM, the root Pebble signs certificates with
// (made anew at each start), from its management API (/roots/0): what a
// client checking the served chains must trust.
func (s *Server) IssuingRootPEM(t testing.TB) []byte {
	t.Helper()
	pem, err := s.get("https://" + s.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	return pem
}

// IssuingRoots returns the issuing root (IssuingRootPEM) as a pool.
func (s *Server) IssuingRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	pem := s.IssuingRootPEM(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in Pebble's root: %q", pem)
	}
	return pool
}
