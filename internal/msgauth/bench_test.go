package msgauth

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkCheckMessage measures one message through the test DNS server
// over loopback UDP: SPF pass (one TXT lookup), two DKIM signatures
// (Ed25519 and RSA, two key lookups), DMARC (one lookup), a 10 KiB body.
// The DNS round trips, without a cache, dominate.
func BenchmarkCheckMessage(b *testing.B) {
	e := newEnv(b, nil)
	k := keys()
	body := strings.Repeat("A line of text of the body of the message.\r\n", 240)
	msg := strings.Replace(plain("Alice <alice@dkim.example>"), "Hello.\r\n", body, 1)
	msg = sign(b, msg, "dkim.example", "ed", k.ed)
	msg = sign(b, msg, "dkim.example", "rsa", k.rsa)
	ctx := context.Background()
	cl := e.c.CheckClient(ctx, mustAddr(clientIP), clientHELO)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for b.Loop() {
		r := e.c.CheckMessage(ctx, cl, "alice@pass.example", strings.NewReader(msg))
		if r.Verdict.Action != Accept || r.DMARC.Result != "pass" || len(r.DKIM) != 2 {
			b.Fatalf("verdict %+v, DMARC %+v", r.Verdict, r.DMARC)
		}
		_ = r.Header()
	}
}

// BenchmarkCheckClient measures the per-connection checks: PTR, forward
// confirmation, HELO, two DNS lists.
func BenchmarkCheckClient(b *testing.B) {
	e := newEnv(b, func(c *Config) {
		c.DNSBL = []ListZone{{"bl.example", "reject"}}
		c.DNSWL = []string{"wl.example"}
	})
	ctx := context.Background()
	for b.Loop() {
		cl := e.c.CheckClient(ctx, mustAddr(clientIP), clientHELO)
		if cl.IPRev.Result != "pass" {
			b.Fatalf("iprev %+v", cl.IPRev)
		}
	}
}
