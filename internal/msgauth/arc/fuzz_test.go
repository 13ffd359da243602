package arc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"sync"
	"testing"

	"postel/internal/dns"
)

// FuzzTagList parses arbitrary tag-lists: no panic, and what parses is
// well formed and parses again the same when written back.
func FuzzTagList(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := parseTagList(s)
		if err != nil {
			return
		}
		if len(tags) > maxTags {
			t.Fatalf("%d tags", len(tags))
		}
		var sb strings.Builder
		seen := map[string]bool{}
		for _, tg := range tags {
			if !validTagName(tg.name) || seen[tg.name] {
				t.Fatalf("tag name %q", tg.name)
			}
			seen[tg.name] = true
			if strings.Contains(tg.value, ";") || tg.value != trimFWS(tg.value) {
				t.Fatalf("value %q", tg.value)
			}
			sb.WriteString(tg.name + "=" + tg.value + ";")
		}
		again, err := parseTagList(sb.String())
		if err != nil || len(again) != len(tags) {
			t.Fatalf("written back %q: %v", sb.String(), err)
		}
		for i := range tags {
			if again[i] != tags[i] {
				t.Fatalf("written back %q: tag %d %v, was %v", sb.String(), i, again[i], tags[i])
			}
		}
	})
}

// fuzzSealer seals with a small key made once per run.
var fuzzSealer = sync.OnceValues(func() (*Sealer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		return nil, err
	}
	return &Sealer{Domain: "fuzz.example", Selector: "f", Key: key}, nil
})

// fuzzOptions serve keys from a map, not DNS: the ValiMail suite's "dummy"
// key, whose vectors are among the seeds, and the fuzz sealer's.
func fuzzOptions(s *Sealer) Options {
	records := map[string]string{
		"dummy._domainkey.example.org": valiMailKeys["dummy._domainkey.example.org"],
		"f._domainkey.fuzz.example":    "v=DKIM1; k=rsa; p=" + publicKey(&s.Key.(*rsa.PrivateKey).PublicKey),
	}
	return Options{LookupTXT: func(_ context.Context, name string) ([]string, error) {
		if r, ok := records[name]; ok {
			return []string{r}, nil
		}
		return nil, dns.ErrNotFound
	}}
}

// checkResult verifies data and checks that the Result is consistent.
func checkResult(t *testing.T, data []byte, opts Options) Result {
	res, err := Verify(context.Background(), bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	switch res.Status {
	case "none":
		if res.Instances != 0 || res.Reason != "" {
			t.Fatalf("none: %+v", res)
		}
	case "pass":
		if res.Instances < 1 || len(res.Sealers) != res.Instances || res.Reason != "" {
			t.Fatalf("pass: %+v", res)
		}
	case "fail":
		if res.Reason == "" || res.Sealers != nil {
			t.Fatalf("fail: %+v", res)
		}
	default:
		t.Fatalf("status %q", res.Status)
	}
	if res.Instances > 99 {
		t.Fatalf("%d instances", res.Instances)
	}
	return res
}

// FuzzVerify validates arbitrary messages (mostly header blocks): Verify
// must not fail with an error (keys never fail temporarily here), and its
// Result must be consistent.
func FuzzVerify(f *testing.F) {
	s, err := fuzzSealer()
	if err != nil {
		f.Fatal(err)
	}
	opts := fuzzOptions(s)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkResult(t, data, opts)
	})
}

// FuzzSealVerify adds a set with Seal to arbitrary messages whose chain is
// none or pass: the new chain must pass. Sealer and verifier thus agree on
// canonicalization and field selection whatever the header fields. (Slow:
// two RSA signatures each run.)
func FuzzSealVerify(f *testing.F) {
	s, err := fuzzSealer()
	if err != nil {
		f.Fatal(err)
	}
	opts := fuzzOptions(s)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := checkResult(t, data, opts)
		set, err := s.Seal(bytes.NewReader(data), res, "fuzz.example", "arc="+res.Status)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		// A message starting with white space would have its first line
		// taken as a continuation of the new AAR: no real message does.
		if set == nil || res.Status == "fail" || len(data) > 0 && (data[0] == ' ' || data[0] == '\t') {
			return
		}
		sealed := append(set, data...)
		res2 := checkResult(t, sealed, opts)
		if res2.Status != "pass" || res2.Instances != res.Instances+1 {
			t.Fatalf("after Seal: %+v\n%q", res2, sealed)
		}
	})
}
