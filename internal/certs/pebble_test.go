package certs

import (
	"context"
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

// Pebble (github.com/letsencrypt/pebble), the ACME test server of Let's
// Encrypt, run as a real process: go.mod lists it as a tool, so the test
// builds the version the module pins.

// pebbleServer is a running Pebble.
type pebbleServer struct {
	// Directory is the ACME directory URL.
	Directory string
	// APIRoots is the PEM file of the root of Pebble's own HTTPS
	// certificate (its test "minica"), what ca_roots names.
	APIRoots string

	mgmt   string       // host:port of the management API
	client *http.Client // trusts APIRoots
}

// pebbleOptions say where Pebble's validation authority connects and
// which DNS server it asks.
type pebbleOptions struct {
	TLSPort  int           // tls-alpn-01 validations connect here
	HTTPPort int           // http-01 validations connect here
	DNS      string        // host:port of the DNS server resolving the names
	Validity time.Duration // lifetime of the certificates it issues
}

// goTool returns the go command of the toolchain running the tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildPebble builds Pebble into dir and returns the binary and Pebble's
// module directory (which holds its test certificates).
func buildPebble(t *testing.T, dir string) (bin, moduleDir string) {
	t.Helper()
	bin = filepath.Join(dir, "pebble")
	build := exec.Command(goTool(), "build", "-o", bin, "github.com/letsencrypt/pebble/v2/cmd/pebble")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building Pebble (a tool in go.mod; needs the module, from the module cache or the proxy): %v\n%s", err, out)
	}
	list := exec.Command(goTool(), "list", "-m", "-f", "{{.Dir}}", "github.com/letsencrypt/pebble/v2")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("finding Pebble's module directory: %v", err)
	}
	return bin, strings.TrimSpace(string(out))
}

// freePort returns a port nothing listened on a moment ago. Pebble binds
// its own ports from its config file, so it cannot be handed a listener;
// a port taken meanwhile makes Pebble exit, and startPebble tries again.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startPebble runs Pebble until the test ends (stopped by its PID).
func startPebble(t *testing.T, opt pebbleOptions) *pebbleServer {
	t.Helper()
	dir := t.TempDir()
	bin, moduleDir := buildPebble(t, dir)
	certs := filepath.Join(moduleDir, "test", "certs")
	p := &pebbleServer{APIRoots: filepath.Join(certs, "pebble.minica.pem")}
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(p.APIRoots)
	if err != nil || !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("Pebble's test root %s: %v", p.APIRoots, err)
	}
	p.client = &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(p.client.CloseIdleConnections)

	for try := 1; ; try++ {
		listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		p.mgmt = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
		p.Directory = "https://" + listen + "/dir"
		config := map[string]any{"pebble": map[string]any{
			"listenAddress":                  listen,
			"managementListenAddress":        p.mgmt,
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
		write(t, configFile, data)

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
		err = p.waitReady(exited)
		if err == nil {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					t.Logf("Pebble's output:\n%s", out.String())
				}
			})
			return p
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
func (p *pebbleServer) waitReady(exited <-chan error) error {
	deadline := time.After(wait)
	for {
		_, errDir := p.get(p.Directory)
		_, errRoot := p.get("https://" + p.mgmt + "/roots/0")
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
func (p *pebbleServer) get(url string) ([]byte, error) {
	resp, err := p.client.Get(url)
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

// IssuingRoots returns the root Pebble signs certificates with (made anew
// at each start), from its management API.
func (p *pebbleServer) IssuingRoots(t *testing.T) *x509.CertPool {
	t.Helper()
	pem, err := p.get("https://" + p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in Pebble's root: %q", pem)
	}
	return pool
}

// resolveTo is a dialer that connects every address to addr, so that
// clients can use the names of the certificates under test.
func resolveTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
