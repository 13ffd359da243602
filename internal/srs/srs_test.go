package srs

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

const day = 24 * time.Hour

func newSRS(t testing.TB, secrets ...string) *SRS {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		keys = append(keys, []byte(s))
	}
	s, err := New(keys, 0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func forward(t *testing.T, s *SRS, addr, ours string) string {
	t.Helper()
	out, err := s.Forward(addr, ours, t0)
	if err != nil {
		t.Fatalf("Forward(%q): %v", addr, err)
	}
	return out
}

func reverse(t *testing.T, s *SRS, addr string, now time.Time, want string) {
	t.Helper()
	got, err := s.Reverse(addr, now)
	if err != nil || got != want {
		t.Errorf("Reverse(%q) = %q, %v; want %q", addr, got, err, want)
	}
}

var srs0Form = regexp.MustCompile(`^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=([^=@]+)=(.+)@our\.example$`)

func TestSRS0RoundTrip(t *testing.T) {
	s := newSRS(t, "first secret of sixteen+ bytes")
	for _, addr := range []string{
		"alice@example.com",
		"Alice.Smith@Example.COM",
		"list-bounces+bob=example.org@lists.example.net", // VERP, with '=' and '+'
		"a@b.c",
		"jörg@bücher.example", // SMTPUTF8
		"x!#$%&'*+-/=?^_`{|}~@example.com",
	} {
		out := forward(t, s, addr, "Our.Example.")
		m := srs0Form.FindStringSubmatch(out)
		at := strings.LastIndexByte(addr, '@')
		if m == nil || m[1] != addr[at+1:] || m[2] != addr[:at] {
			t.Errorf("Forward(%q) = %q", addr, out)
		}
		reverse(t, s, out, t0, addr)
		reverse(t, s, out, t0.Add(21*day), addr)
	}
}

// Local parts may be case-folded on the way back: the hash, the
// timestamp and the prefix are read regardless of case.
func TestCaseFolded(t *testing.T) {
	s := newSRS(t, "first secret of sixteen+ bytes")
	out := forward(t, s, "Alice@Example.com", "our.example")
	reverse(t, s, strings.ToLower(out), t0, "alice@example.com")
	reverse(t, s, strings.ToUpper(out), t0, "ALICE@EXAMPLE.COM")

	fwd1 := newSRS(t, "the first forwarder's secret!!")
	srs1 := forward(t, s, forward(t, fwd1, "Bob@Example.org", "fwd1.example"), "our.example")
	got, err := s.Reverse(strings.ToLower(srs1), t0)
	if err != nil {
		t.Fatal(err)
	}
	reverse(t, fwd1, got, t0, "bob@example.org")
}

// An SRS0 address made by a first forwarder becomes SRS1 at the second;
// a bounce to it goes back to the first forwarder, which reverses its own.
func TestSRS1(t *testing.T) {
	fwd1 := newSRS(t, "the first forwarder's secret!!")
	us := newSRS(t, "our own secret of enough bytes")
	third := newSRS(t, "the third forwarder's secret!!")

	a0 := forward(t, fwd1, "alice@example.com", "fwd1.example")
	a1 := forward(t, us, a0, "our.example")
	srs0Part := strings.TrimSuffix(strings.TrimPrefix(a0, "SRS0"), "@fwd1.example")
	if !regexp.MustCompile(`^SRS1=[A-Za-z0-9+/]{4}=fwd1\.example=`+regexp.QuoteMeta(srs0Part)+`@our\.example$`).MatchString(a1) ||
		!strings.Contains(a1, "=fwd1.example==") {
		t.Errorf("SRS1 = %q from %q", a1, a0)
	}
	reverse(t, us, a1, t0, a0)
	reverse(t, fwd1, a0, t0, "alice@example.com")

	// SRS1 stays SRS1, with the first forwarder, at the newest one.
	a2 := forward(t, third, a1, "third.example")
	if !strings.HasPrefix(a2, "SRS1=") || !strings.HasSuffix(a2, "=fwd1.example="+srs0Part+"@third.example") {
		t.Errorf("SRS1 from SRS1 = %q", a2)
	}
	reverse(t, third, a2, t0, a0)
	if _, err := us.Reverse(a2, t0); !errors.Is(err, ErrBadHash) {
		t.Errorf("another forwarder's SRS1 reversed: %v", err)
	}
	// SRS1 carries no timestamp of its own: the first forwarder checks
	// that of its SRS0.
	reverse(t, us, a1, t0.Add(100*day), a0)
	if _, err := fwd1.Reverse(a0, t0.Add(100*day)); !errors.Is(err, ErrExpired) {
		t.Errorf("old SRS0 behind SRS1: %v", err)
	}

	// Other separators after the prefix are read too (libsrs2 writes
	// them).
	plus := strings.Replace(a0, "SRS0=", "SRS0+", 1)
	b1 := forward(t, us, plus, "our.example")
	if !strings.Contains(b1, "=fwd1.example=+") {
		t.Errorf("SRS1 of %q = %q", plus, b1)
	}
	reverse(t, us, b1, t0, plus)
}

func TestTimestamps(t *testing.T) {
	s := newSRS(t, "first secret of sixteen+ bytes")
	out := forward(t, s, "alice@example.com", "our.example")
	reverse(t, s, out, t0.Add(21*day), "alice@example.com")
	for name, when := range map[string]time.Time{
		"22 days later": t0.Add(22 * day),
		"a day earlier": t0.Add(-day),
		"a year later":  t0.Add(365 * day),
	} {
		if got, err := s.Reverse(out, when); !errors.Is(err, ErrExpired) {
			t.Errorf("%s: Reverse = %q, %v", name, got, err)
		}
	}
	short, err := New([][]byte{[]byte("first secret of sixteen+ bytes")}, 2*day+time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reverse(t, short, out, t0.Add(2*day), "alice@example.com")
	if _, err := short.Reverse(out, t0.Add(3*day)); !errors.Is(err, ErrExpired) {
		t.Errorf("max age 2 days, 3 days old: %v", err)
	}

	for _, tt := range []struct {
		when time.Time
		want string
	}{
		{time.Unix(0, 0), "AA"},
		{time.Unix(33*86400+86399, 0), "BB"},
		{time.Unix(1023*86400, 0), "77"},
		{time.Unix(1024*86400, 0), "AA"},
		{time.Unix(-1, 0), "77"},
	} {
		if got := timestamp(tt.when); got != tt.want {
			t.Errorf("timestamp(%v) = %s, want %s", tt.when.UTC(), got, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	old := newSRS(t, "the old secret, long enough")
	out := forward(t, old, "alice@example.com", "our.example")
	if _, err := newSRS(t, "another secret, long enough").Reverse(out, t0); !errors.Is(err, ErrBadHash) {
		t.Errorf("another secret: %v", err)
	}
	// Rotation: the new secret signs, the old one still verifies.
	rotated := newSRS(t, "the new secret, long enough", "the old secret, long enough")
	reverse(t, rotated, out, t0, "alice@example.com")
	signed := forward(t, rotated, "alice@example.com", "our.example")
	reverse(t, newSRS(t, "the new secret, long enough"), signed, t0, "alice@example.com")
	if _, err := old.Reverse(signed, t0); !errors.Is(err, ErrBadHash) {
		t.Errorf("signed with the old secret after rotation: %v", err)
	}

	// A changed hash fails, whatever the case.
	i := len("SRS0=")
	for _, c := range []byte("Aa0+/") {
		if out[i] == c || upper(out[i]) == upper(c) {
			continue
		}
		bad := out[:i] + string(c) + out[i+1:]
		if _, err := old.Reverse(bad, t0); !errors.Is(err, ErrBadHash) {
			t.Errorf("Reverse(%q) = %v", bad, err)
		}
	}
	// So does a changed address.
	changed := strings.Replace(out, "=alice@", "=alicf@", 1)
	if _, err := old.Reverse(changed, t0); !errors.Is(err, ErrBadHash) {
		t.Errorf("Reverse(%q) = %v", changed, err)
	}
}

func TestNew(t *testing.T) {
	good := []byte("sixteen bytes!!!")
	for name, tt := range map[string]struct {
		secrets [][]byte
		maxAge  time.Duration
	}{
		"no secret":      {nil, 0},
		"short secret":   {[][]byte{good, []byte("short")}, 0},
		"negative age":   {[][]byte{good}, -day},
		"age of 3 years": {[][]byte{good}, 1000 * day},
	} {
		if _, err := New(tt.secrets, tt.maxAge); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	// New copies the secrets.
	key := append([]byte(nil), good...)
	s, err := New([][]byte{key}, 999*day)
	if err != nil {
		t.Fatal(err)
	}
	out := forward(t, s, "a@example.com", "our.example")
	key[0] ^= 1
	reverse(t, s, out, t0.Add(999*day), "a@example.com")
}

func TestForwardSpecialCases(t *testing.T) {
	s := newSRS(t, "first secret of sixteen+ bytes")
	for addr, want := range map[string]string{
		"":                     "",                // the null sender
		"bob@our.example":      "bob@our.example", // passes SPF as it is
		"bob@OUR.example":      "bob@OUR.example",
		"SRS0=x=y@our.example": "SRS0=x=y@our.example", // our own, looping
	} {
		if got, err := s.Forward(addr, "our.example", t0); err != nil || got != want {
			t.Errorf("Forward(%q) = %q, %v", addr, got, err)
		}
	}
	// Addresses that look like SRS but are not well formed are ordinary.
	for _, addr := range []string{"SRS1=abc@x.example", "SRS0=@x.example", "srs1=HHHH=bad host==x@x.example"} {
		out, err := s.Forward(addr, "our.example", t0)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Forward(%q): %v", addr, err)
			}
			continue
		}
		if !strings.HasPrefix(out, "SRS0=") {
			t.Errorf("Forward(%q) = %q", addr, out)
		}
		reverse(t, s, out, t0, addr)
	}
}

// The rewritten local part stays within 64 octets when the address is
// short enough; a longer one is still written, up to the 254 octets of a
// reverse-path.
func TestLengths(t *testing.T) {
	s := newSRS(t, "first secret of sixteen+ bytes")
	out := forward(t, s, "alice@example.com", "our.example")
	if local := out[:strings.LastIndexByte(out, '@')]; len(local) > maxLocal {
		t.Errorf("local part %q", local)
	}
	long := strings.Repeat("l", 40) + "@" + strings.Repeat("d", 40) + ".example"
	out = forward(t, s, long, "our.example")
	if local := out[:strings.LastIndexByte(out, '@')]; len(local) <= maxLocal {
		t.Errorf("local part of %d octets", len(local))
	}
	reverse(t, s, out, t0, long)

	tooLong := strings.Repeat("l", 64) + "@" + strings.Repeat("d", 60) + "." + strings.Repeat("e", 60) + "." + strings.Repeat("f", 50) + ".example"
	if got, err := s.Forward(tooLong, "our.example", t0); !errors.Is(err, ErrTooLong) {
		t.Errorf("Forward(%d octets) = %q, %v", len(tooLong), got, err)
	}
	huge := strings.Repeat("a", 500) + "@example.com"
	if _, err := s.Forward(huge, "our.example", t0); !errors.Is(err, ErrTooLong) {
		t.Errorf("Forward(%d octets): %v", len(huge), err)
	}
	if _, err := s.Reverse("SRS0="+huge, t0); !errors.Is(err, ErrTooLong) {
		t.Errorf("Reverse(%d octets): %v", len(huge)+5, err)
	}
}

func TestMalformed(t *testing.T) {
	s := newSRS(t, "first secret of sixteen+ bytes")
	good := forward(t, s, "alice@example.com", "our.example")
	hash := good[5:9]
	for _, addr := range []string{
		"no-at", "@example.com", "a@", `"a b"@example.com`, "a@[192.0.2.1]", "a@exa mple.com",
		"a@example..com", "a@example.com.", "a\x00b@example.com", "a b@example.com", "\xff@example.com",
	} {
		if got, err := s.Forward(addr, "our.example", t0); !errors.Is(err, ErrMalformed) {
			t.Errorf("Forward(%q) = %q, %v", addr, got, err)
		}
		if got, err := s.Reverse(addr, t0); !errors.Is(err, ErrMalformed) {
			t.Errorf("Reverse(%q) = %q, %v", addr, got, err)
		}
	}
	for _, ours := range []string{"", "our example", "our..example", "[192.0.2.1]"} {
		if got, err := s.Forward("a@example.com", ours, t0); !errors.Is(err, ErrMalformed) {
			t.Errorf("Forward(ourDomain %q) = %q, %v", ours, got, err)
		}
	}
	for addr, want := range map[string]error{
		"alice@our.example":                         ErrNotSRS,
		"SRS0@our.example":                          ErrNotSRS,
		"SRS2=" + good[5:]:                          ErrNotSRS,
		"SRSO=" + good[5:]:                          ErrNotSRS,
		"SRS0" + good[4:]:                           nil,
		"SRS0=" + hash + "@our.example":             ErrMalformed,
		"SRS0=" + hash + "=AA=example.com@x.ex":     ErrMalformed, // no local part
		"SRS0=" + hash + "=AA=example.com=@x.ex":    ErrMalformed,
		"SRS0=" + hash + "=AA==alice@x.ex":          ErrMalformed, // no domain
		"SRS0=" + hash + "=A=example.com=alice@x":   ErrMalformed, // short stamp
		"SRS0=" + hash + "=A1=example.com=alice@x":  ErrMalformed, // '1' is not base32
		"SRS0=" + hash + "=AAA=example.com=alice@x": ErrMalformed,
		"SRS0=abc=AA=example.com=alice@x.ex":        ErrMalformed, // short hash
		"SRS0=abcde=AA=example.com=alice@x.ex":      ErrMalformed,
		"SRS0=" + hash + "=AA=exa_mple!=alice@x.ex": ErrMalformed,
		"SRS1=" + hash + "=fwd.example=x@x.ex":      ErrMalformed, // no separator
		"SRS1=" + hash + "=fwd.example==@x.ex":      ErrMalformed,
		"SRS1=" + hash + "==" + "=x@x.ex":           ErrMalformed, // no host
		"SRS1=" + hash + "=fwd.example@x.ex":        ErrMalformed,
		"SRS1=" + hash + "=fwd.example==a=b@x.ex":   ErrBadHash,
		"SRS0=" + hash + "=AA=example.com=alice@x":  ErrBadHash,
	} {
		got, err := s.Reverse(addr, t0)
		if want == nil {
			if err != nil || got != "alice@example.com" {
				t.Errorf("Reverse(%q) = %q, %v", addr, got, err)
			}
		} else if !errors.Is(err, want) {
			t.Errorf("Reverse(%q) = %q, %v; want %v", addr, got, err, want)
		}
	}
}

func TestIsSRS(t *testing.T) {
	for local, want := range map[string]bool{
		"SRS0=HHHH=TT=d=l": true, "srs1=x": true, "SRS0+x": true, "Srs0-x": true,
		"SRS0": false, "SRS0x": false, "SRS2=x": false, "SRSO=x": false, "xSRS0=": false, "": false, "SRS1": false,
	} {
		if got := IsSRS(local); got != want {
			t.Errorf("IsSRS(%q) = %v", local, got)
		}
	}
}
