package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xdg-go/scram"

	"postel/internal/store"
)

// Fixed values that make the fuzzed SCRAM exchange deterministic, so that
// the seed corpus can hold a valid client-final-message.
const (
	fuzzPassword    = "pencil"
	fuzzClientNonce = "fyko+d2lbbFgONRv9qkxdawL"
	fuzzServerNonce = "3rfcNHYJY1ZVvWVs7j"
)

var fuzzSalt = []byte("0123456789abcdef")

// fuzzAuth returns an Authenticator for fuzzing: one account with fixed
// SCRAM keys, fixed server nonces, no delays, no lockouts (they would hide
// the deeper states from the fuzzer) and no log.
func fuzzAuth(t testing.TB) *Authenticator {
	t.Helper()
	sc, err := scramKeys(fuzzPassword, fuzzSalt, minSCRAMIter)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := HashPassword(fuzzPassword)
	if err != nil {
		t.Fatal(err)
	}
	accts := &fakeAccounts{accts: map[string]store.Account{
		"alice@example.org": {ID: 1, Address: "alice@example.org",
			Credentials: store.Credentials{PasswordHash: hash, SCRAMSHA256: encodeSCRAM(sc)}},
	}}
	a := NewAuthenticator(accts, NewThrottle(ThrottleConfig{MaxFailures: 1 << 30}), slog.New(slog.DiscardHandler))
	a.sleep = func(context.Context, time.Duration) {}
	a.scramNonce = func() string { return fuzzServerNonce }
	return a
}

// validSCRAM returns a client-first and client-final message that
// authenticate with fuzzAuth.
func validSCRAM(t testing.TB) (first, final string) {
	t.Helper()
	c, err := scram.SHA256.NewClient("alice@example.org", fuzzPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := c.WithNonceGenerator(func() string { return fuzzClientNonce }).NewConversation()
	first, _ = conv.Step("")
	serverFirst := "r=" + fuzzClientNonce + fuzzServerNonce + ",s=MDEyMzQ1Njc4OWFiY2RlZg==,i=4096"
	final, err = conv.Step(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	return first, final
}

// knownError reports whether err is one the SASL servers may return.
func knownError(err error) bool {
	for _, e := range []error{ErrAuthFailed, ErrThrottled, ErrMalformed, ErrUnavailable} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// TestFuzzSeedAuthenticates checks that the fuzz setup is deterministic
// enough for validSCRAM's messages to succeed.
func TestFuzzSeedAuthenticates(t *testing.T) {
	a := fuzzAuth(t)
	first, final := validSCRAM(t)
	var got Identity
	s, err := a.NewServer(context.Background(), "SCRAM-SHA-256", "imap", ipA, func(id Identity) { got = id })
	if err != nil {
		t.Fatal(err)
	}
	for i, msg := range []string{first, final, ""} {
		if _, _, err := s.Next([]byte(msg)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if got.AccountID != 1 {
		t.Errorf("identity %+v", got)
	}
}

func FuzzPlain(f *testing.F) {
	f.Add([]byte("\x00alice@example.org\x00pencil"))
	f.Add([]byte("alice@example.org\x00alice@example.org\x00pencil"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("no nul"))
	f.Add([]byte("a\x00b\x00c\x00d"))
	f.Add([]byte("\x00alice@example.org\x00\xff"))
	a := fuzzAuth(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		authzid, authcid, passwd, err := parsePlain(msg)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
		} else {
			if authcid == "" || passwd == "" {
				t.Fatalf("empty authcid or passwd accepted")
			}
			for _, s := range []string{authzid, authcid, passwd} {
				if !utf8.ValidString(s) || bytes.IndexByte([]byte(s), 0) >= 0 {
					t.Fatalf("part %q is not SAFE", s)
				}
			}
			if joined := authzid + "\x00" + authcid + "\x00" + passwd; joined != string(msg) {
				t.Fatalf("parts %q %q %q do not rebuild %q", authzid, authcid, passwd, msg)
			}
		}
		s, err := a.NewServer(context.Background(), "PLAIN", "smtp", ipA, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, done, err := s.Next(msg)
		if err != nil && !knownError(err) {
			t.Fatalf("unknown error %v", err)
		}
		if done != (err == nil) {
			t.Fatalf("done %v with error %v", done, err)
		}
	})
}

func FuzzSCRAM(f *testing.F) {
	first, final := validSCRAM(f)
	f.Add([]byte(first), []byte(final))
	f.Add([]byte("n,,n=alice@example.org,r=abc"), []byte("c=biws,r=abc"+fuzzServerNonce+",p=AAAA"))
	f.Add([]byte("y,a=alice@example.org,n=alice@example.org,r=abc"), []byte("c=eSxhPWFsaWNlQGV4YW1wbGUub3JnLA==,r=x,p=="))
	f.Add([]byte("p=tls-unique,,n=alice@example.org,r=abc"), []byte(""))
	f.Add([]byte("n,,n=nobody@example.org,r=abc,ext=1"), []byte("c=biws,r=abc"+fuzzServerNonce+",x=1,p=AAAA"))
	f.Add([]byte(""), []byte(""))
	a := fuzzAuth(f)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		s, err := a.NewServer(context.Background(), "SCRAM-SHA-256", "imap", ipA, func(id Identity) {
			if id.AccountID != 1 {
				t.Fatalf("authenticated as %+v", id)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, msg := range [][]byte{first, final, nil} {
			ch, done, err := s.Next(msg)
			if err != nil {
				if !knownError(err) {
					t.Fatalf("step %d: unknown error %v", i, err)
				}
				return
			}
			if done {
				if i != 2 {
					t.Fatalf("done at step %d", i)
				}
				return
			}
			if ch == nil {
				t.Fatalf("step %d: nil challenge", i)
			}
		}
		t.Fatalf("exchange neither failed nor finished")
	})
}

func FuzzVerifyPassword(f *testing.F) {
	// Bounds low enough that each iteration stays fast.
	savedMem, savedTime := maxArgonMemory, maxArgonTime
	maxArgonMemory, maxArgonTime = 1024, 4
	f.Cleanup(func() { maxArgonMemory, maxArgonTime = savedMem, savedTime })

	good, err := HashPassword("pw")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "pw")
	f.Add(good, "wrong")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$$", "")
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, encoded, password string) {
		ok := VerifyPassword(encoded, password)
		p, salt, key, err := parseArgon(encoded)
		if err != nil {
			if ok {
				t.Fatalf("verified against a malformed hash %q", encoded)
			}
			return
		}
		// A parsed hash re-encodes to one that parses the same.
		p2, salt2, key2, err := parseArgon(encodeArgon(p, salt, key))
		if err != nil || p2 != p || !bytes.Equal(salt2, salt) || !bytes.Equal(key2, key) {
			t.Fatalf("re-encoding %q does not round-trip: %v", encoded, err)
		}
	})
}

func FuzzSCRAMCredentials(f *testing.F) {
	sc, err := scramKeys("pw", fuzzSalt, minSCRAMIter)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeSCRAM(sc))
	f.Add("$scram-sha-256$i=4096$$$")
	f.Add("$scram-sha-256$i=1$AAAAAAAAAAA$AAAA$AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseSCRAM(s)
		if err != nil {
			return
		}
		c2, err := parseSCRAM(encodeSCRAM(c))
		if err != nil || c2.Salt != c.Salt || c2.Iters != c.Iters ||
			!bytes.Equal(c2.StoredKey, c.StoredKey) || !bytes.Equal(c2.ServerKey, c.ServerKey) {
			t.Fatalf("%q does not round-trip: %v", s, err)
		}
	})
}
