package msgauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestARCOverride checks rule 2 by filling in Result.ARC, as the ARC code
// will.
func TestARCOverride(t *testing.T) {
	const (
		dmarcPass = "i=1; lists.example; spf=fail smtp.mailfrom=reject.example; dkim=pass header.d=reject.example header.s=ed; dmarc=pass header.from=reject.example"
		dkimPass  = "i=1; lists.example; dkim=pass (good) header.d=mail.reject.example"
		spfPass   = "i=1; lists.example; spf=pass smtp.mailfrom=bounce@reject.example"
		noID      = "dmarc=pass header.from=reject.example"
		dmarcFail = "i=1; lists.example; spf=fail smtp.mailfrom=reject.example; dmarc=fail header.from=reject.example"
		otherFrom = "i=1; lists.example; dmarc=pass header.from=other.example"
		garbage   = "i=1; lists.example; dmarc=pass header.from=(unterminated"
	)
	tests := []struct {
		name     string
		from     string
		arc      ARCResult
		action   Action
		override string
		applied  string
	}{
		{"trusted sealer", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: dmarcPass}, Accept, "trusted_forwarder", "none"},
		{"trusted sealers, case", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"Lists.Example", "relay.example"}, OldestAuthResults: dmarcPass}, Accept, "trusted_forwarder", "none"},
		{"trusted, aligned dkim", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: dkimPass}, Accept, "trusted_forwarder", "none"},
		{"trusted, aligned spf", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: spfPass}, Accept, "trusted_forwarder", "none"},
		{"trusted, results without i= and id", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: noID}, Accept, "trusted_forwarder", "none"},
		{"untrusted sealer", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"other.example"}, OldestAuthResults: dmarcPass}, Junk, "arc", "quarantine"},
		// Every sealer must be trusted, the newest as the oldest.
		{"one sealer untrusted", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example", "evil.example"}, OldestAuthResults: dmarcPass}, Junk, "arc", "quarantine"},
		{"no sealers", "a@reject.example", ARCResult{Result: "pass", Sealers: nil, OldestAuthResults: dmarcPass}, Junk, "arc", "quarantine"},
		{"chain failed", "a@reject.example", ARCResult{Result: "fail", Sealers: []string{"lists.example"}, OldestAuthResults: dmarcPass}, Reject, "", "reject"},
		{"no chain", "a@reject.example", ARCResult{Result: "none", Sealers: nil, OldestAuthResults: ""}, Reject, "", "reject"},
		{"oldest set saw dmarc fail", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: dmarcFail}, Reject, "", "reject"},
		{"oldest set saw another From", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: otherFrom}, Reject, "", "reject"},
		{"unparsable results", "a@reject.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: garbage}, Reject, "", "reject"},
		// Quarantine: a trusted chain lifts it, an untrusted one does not.
		{"quarantine, trusted", "a@quarantine.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: strings.ReplaceAll(dmarcPass, "reject.example", "quarantine.example")}, Accept, "trusted_forwarder", "none"},
		{"quarantine, untrusted", "a@quarantine.example", ARCResult{Result: "pass", Sealers: []string{"other.example"}, OldestAuthResults: strings.ReplaceAll(dmarcPass, "reject.example", "quarantine.example")}, Junk, "", "quarantine"},
		// Rule 3 gives way only to trusted sealers: a list our users post
		// to that breaks their signature.
		{"own domain, trusted sealer", "a@ours.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: strings.ReplaceAll(dmarcPass, "reject.example", "ours.example")}, Accept, "", "none"},
		{"own domain, untrusted sealer", "a@ours.example", ARCResult{Result: "pass", Sealers: []string{"other.example"}, OldestAuthResults: strings.ReplaceAll(dmarcPass, "reject.example", "ours.example")}, Reject, "", "none"},
		{"own domain, trusted sealer saw it fail", "a@ours.example", ARCResult{Result: "pass", Sealers: []string{"lists.example"}, OldestAuthResults: strings.ReplaceAll(dmarcFail, "reject.example", "ours.example")}, Reject, "", "none"},
	}
	e := newEnv(t, func(c *Config) {
		c.TrustedARCSealers = []string{"lists.example", "relay.example"}
		c.IsLocalDomain = func(_ context.Context, d string) (bool, error) { return d == "ours.example", nil }
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.check(t, "a@fail.example", plain(tt.from))
			if r.DMARC.Result != "fail" {
				t.Fatalf("DMARC %+v", r.DMARC)
			}
			r.SetARC(tt.arc)
			if r.Verdict.Action != tt.action || r.DMARC.Override != tt.override || r.DMARC.Applied != tt.applied {
				t.Errorf("verdict %v %q, override %q, applied %q; want %v %q %q",
					r.Verdict.Action, r.Verdict.Reason, r.DMARC.Override, r.DMARC.Applied, tt.action, tt.override, tt.applied)
			}
			p := parseHeader(t, r)
			a := p.arc(t)
			if want := orDefault(tt.arc.Result, "none"); string(a.Value) != want {
				t.Errorf("header arc=%s, want %s", a.Value, want)
			}
			if tt.arc.Result == "pass" && a.RemoteIP != clientIP {
				t.Errorf("header smtp.remote-ip=%q", a.RemoteIP)
			}
			if got := p.own("dmarc")[0].prop("policy.dmarc"); got != tt.applied {
				t.Errorf("header policy.dmarc=%q, want %q", got, tt.applied)
			}
			if tt.override != "" && !strings.Contains(p.comments(), tt.override) {
				t.Errorf("override %q not noted in %q", tt.override, p.comments())
			}
		})
	}
}

// TestOwnDomain checks rule 3: mail in our name must authenticate.
func TestOwnDomain(t *testing.T) {
	var failing error
	e := newEnv(t, func(c *Config) {
		c.IsLocalDomain = func(_ context.Context, d string) (bool, error) {
			if failing != nil {
				return false, failing
			}
			return d == "ours.example", nil
		}
	})
	k := keys()
	signed := sign(t, plain("ceo@ours.example"), "ours.example", "ed", k.ed)
	tests := []struct {
		name    string
		msg     string
		failing error
		action  Action
		code    int
		reason  string
	}{
		{"spoof", plain("CEO <ceo@ours.example>"), nil, Reject, 550, "spoofed sender: ours.example is local and the message is not authenticated"},
		{"authenticated", signed, nil, Accept, 0, ""},
		{"spoof among other From domains", plain("a@pass.example, ceo@ours.example"), nil, Reject, 550, "spoofed sender: ours.example"},
		{"not ours", plain("a@pnone.example"), nil, Accept, 0, ""},
		{"lookup failed, unauthenticated", plain("ceo@ours.example"), errors.New("database down"), TempFail, 451, "try again later"},
		{"lookup failed, authenticated", signed, errors.New("database down"), Accept, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			failing = tt.failing
			r := e.check(t, "a@fail.example", tt.msg)
			wantVerdict(t, r, tt.action, tt.code, tt.reason)
			parseHeader(t, r)
		})
	}
	// A From naming more domains than are checked.
	failing = nil
	var addrs []string
	for i := range maxFromDomains + 1 {
		addrs = append(addrs, fmt.Sprintf("a@d%d.example", i))
	}
	r := e.check(t, "a@fail.example", plain(strings.Join(addrs, ", ")))
	wantVerdict(t, r, Reject, 550, "more than 10 From domains")
}

// TestReadFailures checks what a message that cannot be read gets.
func TestReadFailures(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	cl := e.c.CheckClient(ctx, mustAddr(clientIP), clientHELO)

	big := "From: a@pass.example\r\nX-Big: " + strings.Repeat("x", MaxHeaderBytes) + "\r\n\r\nbody\r\n"
	r := e.c.CheckMessage(ctx, cl, "a@pass.example", strings.NewReader(big))
	wantVerdict(t, r, Reject, 552, "header")
	if r.Verdict.Enhanced != [3]int{5, 3, 4} || r.SPF.Result != "pass" {
		t.Errorf("enhanced %v, SPF %+v", r.Verdict.Enhanced, r.SPF)
	}
	parseHeader(t, r)

	broken := errors.New("disk on fire")
	signed := sign(t, plain("a@dkim.example"), "dkim.example", "ed", keys().ed)
	r = e.c.CheckMessage(ctx, cl, "a@pass.example", &failingReader{data: signed, err: broken})
	wantVerdict(t, r, TempFail, 451, "error reading")
	if r.Verdict.Enhanced != [3]int{4, 3, 0} {
		t.Errorf("enhanced %v", r.Verdict.Enhanced)
	}
	parseHeader(t, r)

	// A header block without the empty line, nor a body.
	r = e.c.CheckMessage(ctx, cl, "a@pass.example", strings.NewReader(strings.TrimSuffix(strings.TrimSuffix(signed, "Hello.\r\n"), "\r\n")))
	if len(r.DKIM) != 1 || r.DKIM[0].Result == "temperror" {
		t.Errorf("DKIM of a message without body: %+v", r.DKIM)
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data string
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}
