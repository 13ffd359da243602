package pop3server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/testutil"
)

// External clients: Python's poplib, curl and fetchmail speak to the
// server as real deployments would. All must be installed (the project's
// test script installs them); a missing one fails the test.

// run executes a command with a timeout and returns its combined output
// and exit status.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required for this test: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s timed out:\n%s", name, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), 0
}

// testMessages are delivered for the client tests: an SMTP-like one with
// a prefix and dot lines, a bigger one, and one stored with LF line ends.
func (h *harness) testMessages() {
	h.put(h.alice, "Return-Path: <bob@example.org>\r\nReceived: from test\r\n",
		"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: first\r\n\r\n.dot line\r\n..\r\n.\r\nend\r\n")
	h.put(h.alice, "", "From: carol@example.org\r\nSubject: second\r\n\r\n"+strings.Repeat("A long line of text for the second message.\r\n", 2000))
	h.put(h.alice, "", "Subject: third\n\nLF only\n.dot\n")
}

// pythonClient drives poplib. argv: mode host port cafile user password
// outdir; mode "stls" (port 110, UTF8 and STLS first) or "ssl" (995). It
// writes each message RETR gives to outdir/N and prints a JSON summary;
// it ends with DELE 1, RSET, DELE 2 and QUIT.
const pythonClient = `
import json, poplib, ssl, sys, os
mode, host, port, cafile, user, password, outdir = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile)
if mode == "ssl":
    p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=30)
else:
    p = poplib.POP3(host, int(port), timeout=30)
    p.utf8()
    p.stls(context=ctx)
out = {"capa": sorted(p.capa().keys())}
p.user(user)
p.pass_(password)
out["stat"] = list(p.stat())
out["list"] = [l.decode() for l in p.list()[1]]
out["uidl"] = [l.decode() for l in p.uidl()[1]]
for n in range(1, out["stat"][0] + 1):
    resp, lines, octets = p.retr(n)
    with open(os.path.join(outdir, str(n)), "wb") as f:
        f.write(b"".join(l + b"\r\n" for l in lines))
    out["retr%d" % n] = [resp.decode(), octets]
out["top"] = [l.decode() for l in p.top(1, 1)[1]]
p.dele(1)
p.rset()
p.dele(2)
out["quit"] = p.quit().decode()
print(json.dumps(out))
`

func TestPythonPoplib(t *testing.T) {
	for _, mode := range []string{"stls", "ssl"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
			h.testMessages()
			mb, msgs := h.inbox(h.alice)
			want := make([]string, len(msgs))
			for i, m := range msgs {
				want[i] = h.stored(h.alice, m.UID)
			}
			addr := h.addr
			if mode == "ssl" {
				addr = h.tlsAddr
			}
			host, port, _ := strings.Cut(addr, ":")
			outdir := t.TempDir()
			out, code := run(t, nil, "python3", "-c", pythonClient, mode, host, port, h.caFile(), "alice@example.org", alicePass, outdir)
			if code != 0 {
				t.Fatalf("poplib failed:\n%s", out)
			}
			var res struct {
				Capa  []string `json:"capa"`
				Stat  []int    `json:"stat"`
				List  []string `json:"list"`
				UIDL  []string `json:"uidl"`
				Top   []string `json:"top"`
				Quit  string   `json:"quit"`
				Retr1 []any    `json:"retr1"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if !slicesHas(res.Capa, "USER", "SASL", "TOP", "UIDL", "PIPELINING") || slicesHas(res.Capa, "STLS") {
				t.Errorf("CAPA over TLS: %v", res.Capa)
			}
			if res.Stat[0] != 3 {
				t.Fatalf("STAT %v", res.Stat)
			}
			for i, m := range msgs {
				got, err := os.ReadFile(filepath.Join(outdir, strconv.Itoa(i+1)))
				if err != nil {
					t.Fatal(err)
				}
				// The third message was stored with LF line ends: RETR
				// sends it with CRLF.
				w := want[i]
				if i == 2 {
					w = testutil.CRLF(w)
				}
				if string(got) != w {
					t.Errorf("message %d: poplib got %q, want %q", i+1, got, w)
				}
				if u := fmt.Sprintf("%d %s", i+1, uidl(mb.UIDValidity, m.UID)); res.UIDL[i] != u {
					t.Errorf("UIDL line %q, want %q", res.UIDL[i], u)
				}
				if l := fmt.Sprintf("%d %d", i+1, m.Size); res.List[i] != l {
					t.Errorf("LIST line %q, want %q", res.List[i], l)
				}
			}
			if top := strings.Join(res.Top, "\n"); !strings.HasSuffix(top, "Subject: first\n\n.dot line") {
				t.Errorf("TOP 1 1: %q", top)
			}
			if !strings.HasPrefix(res.Quit, "+OK") {
				t.Errorf("QUIT: %q", res.Quit)
			}
			// DELE 1 was undone by RSET; DELE 2 stood.
			_, left := h.inbox(h.alice)
			if len(left) != 2 || left[0].UID != msgs[0].UID || left[1].UID != msgs[2].UID {
				t.Fatalf("INBOX after QUIT: %+v", left)
			}
		})
	}
}

func slicesHas(list []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, l := range list {
			found = found || l == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestCurl(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	h.testMessages()
	mb, msgs := h.inbox(h.alice)
	ca := h.caFile()
	_, tlsPort, _ := strings.Cut(h.tlsAddr, ":")
	_, port, _ := strings.Cut(h.addr, ":")
	pop3s := "pop3s://localhost:" + tlsPort + "/"
	curl := func(args ...string) string {
		t.Helper()
		args = append([]string{"-sS", "--cacert", ca, "--user", "alice@example.org:" + alicePass}, args...)
		out, code := run(t, nil, "curl", args...)
		if code != 0 {
			t.Fatalf("curl %v failed:\n%s", args, out)
		}
		return out
	}

	// The listing (LIST).
	var list strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&list, "%d %d\r\n", i+1, m.Size)
	}
	if got := curl(pop3s); got != list.String() {
		t.Errorf("curl LIST: %q, want %q", got, list.String())
	}
	// Retrieval (RETR), over 995 and over 110 with STLS; SASL PLAIN with
	// an initial response on the second.
	for i, m := range msgs[:2] {
		want := h.stored(h.alice, m.UID)
		if got := curl(pop3s + strconv.Itoa(i+1)); got != want {
			t.Errorf("curl RETR %d over 995: %d octets differ from the %d stored", i+1, len(got), len(want))
		}
		if got := curl("--ssl-reqd", "--sasl-ir", "pop3://localhost:"+port+"/"+strconv.Itoa(i+1)); got != want {
			t.Errorf("curl RETR %d over STLS: %d octets differ from the %d stored", i+1, len(got), len(want))
		}
	}
	// Other commands with -X: UIDL, then DELE.
	var ids strings.Builder
	for i, m := range msgs {
		fmt.Fprintf(&ids, "%d %s\r\n", i+1, uidl(mb.UIDValidity, m.UID))
	}
	if got := curl("-X", "UIDL", pop3s); got != ids.String() {
		t.Errorf("curl UIDL: %q, want %q", got, ids.String())
	}
	curl("-X", "DELE", "-I", pop3s+"1")
	if _, left := h.inbox(h.alice); len(left) != 2 || left[0].UID != msgs[1].UID {
		t.Fatalf("INBOX after curl DELE 1: %+v", left)
	}
}

// fetchmail from Debian downloads the mailbox: first with "keep" (nothing
// deleted; a second run finds nothing new, by UIDL), then with "no keep"
// over STLS (the server's INBOX empty afterwards).
func TestFetchmail(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AllowPlaintextLoopback = false })
	h.testMessages()
	_, msgs := h.inbox(h.alice)
	dir := t.TempDir()
	ca := h.caFile()
	mbox := filepath.Join(dir, "mbox")
	env := []string{"HOME=" + dir, "FETCHMAILHOME=" + dir}
	fetch := func(port, opts string) (string, int) {
		t.Helper()
		rc := filepath.Join(dir, "fetchmailrc")
		cfg := fmt.Sprintf(`set no bouncemail
set idfile "%s/fetchids"
poll localhost protocol pop3 port %s uidl
  user "alice@example.org" there with password "%s" is "alice" here
  %s sslcertck sslcertfile "%s"
  mda "cat >> %s"
`, dir, port, alicePass, opts, ca, mbox)
		if err := os.WriteFile(rc, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		// fetchmail's exit status: 0 mail retrieved, 1 no mail.
		return run(t, env, "fetchmail", "-f", rc, "--nodetach", "-v")
	}
	_, tlsPort, _ := strings.Cut(h.tlsAddr, ":")
	_, port, _ := strings.Cut(h.addr, ":")

	out, code := fetch(tlsPort, "ssl keep fetchall")
	if code != 0 {
		t.Fatalf("fetchmail (keep) exit %d:\n%s", code, out)
	}
	if _, left := h.inbox(h.alice); len(left) != 3 {
		t.Fatalf("INBOX after fetchmail keep: %d messages, want 3", len(left))
	}
	got, err := os.ReadFile(mbox)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		subject := strings.SplitN(strings.SplitN(h.stored(h.alice, m.UID), "Subject: ", 2)[1], "\n", 2)[0]
		if !strings.Contains(string(got), "Subject: "+strings.TrimSuffix(subject, "\r")) {
			t.Errorf("fetchmail did not deliver %q:\n%s", subject, got)
		}
	}
	if !strings.Contains(string(got), "\n.dot line\n") || strings.Contains(string(got), "..dot line") {
		t.Errorf("dot-stuffing not undone:\n%s", got)
	}

	// Nothing new by UIDL: the unique-ids are stable across sessions.
	out, code = fetch(tlsPort, "ssl keep")
	if code != 1 {
		t.Fatalf("fetchmail (keep, again) exit %d, want 1 (no new mail):\n%s", code, out)
	}

	out, code = fetch(port, "sslproto 'tls1.2+' no keep fetchall")
	if code != 0 {
		t.Fatalf("fetchmail (no keep) exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "STLS") {
		t.Errorf("fetchmail did not use STLS:\n%s", out)
	}
	if _, left := h.inbox(h.alice); len(left) != 0 {
		t.Fatalf("INBOX after fetchmail no keep: %d messages, want 0", len(left))
	}
}
