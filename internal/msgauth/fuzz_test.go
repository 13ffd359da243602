package msgauth

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"postel/internal/message"
)

// The seed corpora are in testdata/fuzz/FuzzXxx/.

func FuzzForgedFields(f *testing.F) {
	f.Fuzz(func(t *testing.T, hdr []byte) {
		fields := message.Fields(hdr)
		got := ForgedFields(fields, "mx.postel.example", []string{"postel.example"})
		if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Fatalf("indexes %v not ascending", got)
		}
		for _, i := range got {
			if i < 0 || i >= len(fields) {
				t.Fatalf("index %d of %d fields", i, len(fields))
			}
			fl := fields[i]
			if !fl.Is("Authentication-Results") && !fl.Is("ARC-Authentication-Results") && !fl.Is("ARC-Seal") && !fl.Is("ARC-Message-Signature") {
				t.Errorf("removed %q", fl.Raw)
			}
			// Whatever the escapes and folding, our name is in it.
			v := strings.ToLower(strings.NewReplacer("\\", "", "\r", "", "\n", "", " ", "", "\t", "").Replace(fl.Value()))
			if !strings.Contains(v, "postel.example") {
				t.Errorf("removed %q, which does not name us", fl.Raw)
			}
			// Judged alone, the same.
			if alone := ForgedFields(fields[i:i+1], "mx.postel.example", []string{"postel.example"}); !slices.Equal(alone, []int{0}) {
				t.Errorf("field %q removed with the others, not alone", fl.Raw)
			}
		}
	})
}

func FuzzParseFrom(f *testing.F) {
	f.Fuzz(func(t *testing.T, hdr []byte) {
		from := parseFrom(message.Fields(hdr))
		if (from.domain == "") == (from.result == "") {
			t.Fatalf("domain %q with result %q", from.domain, from.result)
		}
		if len(from.domains) > maxFromDomains {
			t.Errorf("%d domains", len(from.domains))
		}
		for _, d := range from.domains {
			if !validDomain(d) || normalizeDomain(d) != d {
				t.Errorf("domain %q not normalized", d)
			}
		}
		if from.domain != "" && !slices.Equal(from.domains, []string{from.domain}) {
			t.Errorf("domain %q among %v", from.domain, from.domains)
		}
		if from.addr != "" && !strings.HasSuffix(from.addr, "@"+from.domain) {
			t.Errorf("address %q of domain %q", from.addr, from.domain)
		}
		if again := parseFrom(message.Fields(hdr)); !reflect.DeepEqual(again, from) {
			t.Error("not deterministic")
		}
	})
}

func FuzzParseAuthResults(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		id, results, err := parseAuthResults(s)
		if err == nil {
			if id == "" {
				t.Error("empty authserv-id")
			}
			if len(results) > maxResinfos {
				t.Errorf("%d results", len(results))
			}
			for _, r := range results {
				if r.Method == "" || r.Result == "" || r.Method != strings.ToLower(r.Method) || len(r.Props) > maxProps {
					t.Errorf("result %+v", r)
				}
				for _, p := range r.Props {
					if strings.Count(p.Name, ".") != 1 || p.Name != strings.ToLower(p.Name) {
						t.Errorf("property %q", p.Name)
					}
				}
			}
			id2, results2, _ := parseAuthResults(s)
			if id2 != id || !reflect.DeepEqual(results2, results) {
				t.Error("not deterministic")
			}
		}
		// The ARC override reads the same syntax; it must never panic.
		parseOldestAuthResults(s)
		if rest, ok := skipInstance(s); ok && !strings.HasSuffix(s, rest) {
			t.Errorf("skipInstance(%q) = %q", s, rest)
		}
		leadingValue(s)
	})
}

func FuzzParseTags(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		tags := parseTags(s)
		if len(tags) > maxTags {
			t.Fatalf("%d tags", len(tags))
		}
		for _, tg := range tags {
			if strings.Contains(tg.name, "=") || strings.Contains(tg.name, ";") || strings.Contains(tg.value, ";") {
				t.Errorf("tag %+v", tg)
			}
			if v, ok := tagValue(tags, tg.name); !ok || strings.ContainsAny(v, " \t\r\n") {
				t.Errorf("value %q of %q", v, tg.name)
			}
		}
	})
}

func FuzzDMARCRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		if !isDMARC1(s) {
			return
		}
		rec, err := parseRecord(s)
		if err != nil {
			return
		}
		switch rec.Policy {
		case "none", "quarantine", "reject":
		default:
			t.Errorf("policy %q", rec.Policy)
		}
		if rec.Percent != nil && (*rec.Percent < 0 || *rec.Percent > 100) {
			t.Errorf("pct %d", *rec.Percent)
		}
	})
}

// FuzzHeader puts arbitrary sender text in every place of the
// Authentication-Results field that a sender chooses.
func FuzzHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		r := hostile(v)
		h := r.Header()
		for _, line := range bytes.Split(bytes.TrimSuffix(h, []byte("\r\n")), []byte("\r\n")) {
			for _, c := range line {
				if c < ' ' && c != '\t' || c == 0x7f {
					t.Fatalf("control character %#x in %q", c, line)
				}
			}
		}
		fields := message.Fields(append(h, "\r\n"...))
		if len(fields) != 1 {
			t.Fatalf("%d fields in %q", len(fields), h)
		}
		_, ours, err := parseAuthResults(fields[0].Value())
		if err != nil || len(ours) != 6 {
			t.Fatalf("%d results, %v, in %q", len(ours), err, h)
		}
		_, theirs, err := authres.Parse(fields[0].Value())
		if err != nil || len(theirs) != 6 {
			t.Fatalf("authres: %d results, %v, in %q", len(theirs), err, h)
		}
		// A name that needs no quoting comes out as it went in.
		if c := cleanText(v, 255); isToken(c) && ours[1].prop("header.d") != c {
			t.Errorf("header.d %q, want %q", ours[1].prop("header.d"), c)
		}
	})
}

func FuzzNormalizeDomain(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d := normalizeDomain(s)
		if d == "" {
			return
		}
		if !validDomain(d) || normalizeDomain(d) != d {
			t.Errorf("normalizeDomain(%q) = %q", s, d)
		}
		aligned(d, d, true)
		orgDomain(d)
	})
}
