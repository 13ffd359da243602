package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

func TestHashVerify(t *testing.T) {
	tests := []struct {
		name     string
		set, try string
		want     bool
	}{
		{"same", "secret", "secret", true},
		{"wrong", "secret", "Secret", false},
		{"prefix", "secret", "secre", false},
		{"longer", "secret", "secret1", false},
		{"empty try", "secret", "", false},
		{"unicode", "pässwörd", "pässwörd", true},
		{"unicode differs", "pässwörd", "passwörd", false},
		{"NFKC: ligature fi", "\ufb01x", "fix", true},                       // RFC 4013 §2.4 normalization
		{"non-ASCII space is a space", "a\u00a0b", "a b", true},             // RFC 4013 §2.1
		{"soft hyphen maps to nothing", "pass\u00adword", "password", true}, // RFC 3454 B.1
		{"emoji, SASLprep refused, kept as is", "🔑key", "🔑key", true},
		{"emoji differs", "🔑key", "key", false},
		{"longest", strings.Repeat("p", MaxPasswordLen), strings.Repeat("p", MaxPasswordLen), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HashPassword(tc.set)
			if err != nil {
				t.Fatal(err)
			}
			if got := VerifyPassword(h, tc.try); got != tc.want {
				t.Errorf("VerifyPassword(hash(%q), %q) = %v, want %v", tc.set, tc.try, got, tc.want)
			}
		})
	}
}

func TestHashFormat(t *testing.T) {
	h1, err := HashPassword("secret")
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashPassword("secret")
	if h1 == h2 {
		t.Errorf("two hashes of one password are equal: salt not random")
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(h1) {
		t.Errorf("hash %q does not match %v", h1, re)
	}
	// The production parameters, as documented.
	enc := encodeArgon(defaultArgon, make([]byte, 16), make([]byte, 32))
	if want := "$argon2id$v=19$m=65536,t=3,p=2$AAAAAAAAAAAAAAAAAAAAAA$"; !strings.HasPrefix(enc, want) {
		t.Errorf("default encoding %q, want prefix %q", enc, want)
	}
	p, salt, key, err := parseArgon(enc)
	if err != nil || p != defaultArgon || len(salt) != 16 || len(key) != 32 {
		t.Errorf("parseArgon(default) = %+v, %d, %d, %v", p, len(salt), len(key), err)
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	for _, pw := range []string{"", strings.Repeat("x", MaxPasswordLen+1)} {
		if h, err := HashPassword(pw); err == nil {
			t.Errorf("HashPassword(%d bytes) = %q, want an error", len(pw), h)
		}
		if _, err := NewCredentials(pw); err == nil {
			t.Errorf("NewCredentials(%d bytes) succeeded, want an error", len(pw))
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	good, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$") // "", argon2id, v=19, params, salt, key
	salt, key := f[4], f[5]
	build := func(parts ...string) string { return strings.Join(parts, "$") }
	b64 := base64.RawStdEncoding.EncodeToString
	tests := map[string]string{
		"empty":              "",
		"dollar":             "$",
		"argon2i":            build("", "argon2i", "v=19", "m=64,t=1,p=1", salt, key),
		"argon2d":            build("", "argon2d", "v=19", "m=64,t=1,p=1", salt, key),
		"version 16":         build("", "argon2id", "v=16", "m=64,t=1,p=1", salt, key),
		"no version":         build("", "argon2id", "m=64,t=1,p=1", salt, key),
		"no leading dollar":  strings.TrimPrefix(good, "$"),
		"extra field":        good + "$x",
		"params reordered":   build("", "argon2id", "v=19", "t=1,m=64,p=1", salt, key),
		"two params":         build("", "argon2id", "v=19", "m=64,t=1", salt, key),
		"m=0":                build("", "argon2id", "v=19", "m=0,t=1,p=1", salt, key),
		"t=0":                build("", "argon2id", "v=19", "m=64,t=0,p=1", salt, key),
		"p=0":                build("", "argon2id", "v=19", "m=64,t=1,p=0", salt, key),
		"p too large":        build("", "argon2id", "v=19", "m=64,t=1,p=65", salt, key),
		"p beyond uint8":     build("", "argon2id", "v=19", "m=64,t=1,p=257", salt, key),
		"m too large":        build("", "argon2id", "v=19", "m=4294967295,t=1,p=1", salt, key),
		"m overflows":        build("", "argon2id", "v=19", "m=99999999999,t=1,p=1", salt, key),
		"t too large":        build("", "argon2id", "v=19", "m=64,t=1000,p=1", salt, key),
		"negative":           build("", "argon2id", "v=19", "m=-64,t=1,p=1", salt, key),
		"plus sign":          build("", "argon2id", "v=19", "m=+64,t=1,p=1", salt, key),
		"empty number":       build("", "argon2id", "v=19", "m=,t=1,p=1", salt, key),
		"salt padded":        build("", "argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key),
		"salt bad base64":    build("", "argon2id", "v=19", "m=64,t=1,p=1", "!!!!!!!!!!!!", key),
		"salt too short":     build("", "argon2id", "v=19", "m=64,t=1,p=1", b64([]byte("1234567")), key),
		"salt empty":         build("", "argon2id", "v=19", "m=64,t=1,p=1", "", key),
		"key too short":      build("", "argon2id", "v=19", "m=64,t=1,p=1", salt, b64(make([]byte, 15))),
		"key too long":       build("", "argon2id", "v=19", "m=64,t=1,p=1", salt, b64(make([]byte, 65))),
		"key length 1 mod 4": good[:len(good)-2], // 41 base64 characters
		"key bad final bits": good[:len(good)-1] + "/",
		"too long":           good + strings.Repeat("A", maxEncodedLen),
	}
	for name, enc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, _, err := parseArgon(enc); err == nil {
				t.Errorf("parseArgon(%q) succeeded", enc)
			}
			if VerifyPassword(enc, "pw") {
				t.Errorf("VerifyPassword(%q) = true", enc)
			}
		})
	}
	if !VerifyPassword(good, "pw") {
		t.Fatalf("the unaltered hash does not verify")
	}
	if VerifyPassword(good, strings.Repeat("x", MaxPasswordLen+1)) {
		t.Errorf("an over-long password verified")
	}
}

func TestNewCredentials(t *testing.T) {
	c, err := NewCredentials("pencil")
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyPassword(c.PasswordHash, "pencil") || VerifyPassword(c.PasswordHash, "pen") {
		t.Errorf("PasswordHash does not verify as it should")
	}
	re := regexp.MustCompile(`^\$scram-sha-256\$i=4096\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(c.SCRAMSHA256) {
		t.Fatalf("SCRAMSHA256 %q does not match %v", c.SCRAMSHA256, re)
	}
	sc, err := parseSCRAM(c.SCRAMSHA256)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.SCRAMSHA256, "pencil") || strings.Contains(c.PasswordHash, "pencil") {
		t.Errorf("credentials contain the password")
	}
	// The keys are those of the password after SASLprep.
	want, err := scramKeys("pencil", []byte(sc.Salt), sc.Iters)
	if err != nil {
		t.Fatal(err)
	}
	if !hmac.Equal(sc.StoredKey, want.StoredKey) || !hmac.Equal(sc.ServerKey, want.ServerKey) {
		t.Errorf("stored keys differ from scramKeys")
	}
	c2, _ := NewCredentials("pencil")
	if c2.SCRAMSHA256 == c.SCRAMSHA256 {
		t.Errorf("two SCRAM credentials are equal: salt not random")
	}

	// SASLprep refuses emoji: no SCRAM, but the hash works.
	c, err = NewCredentials("🔑key")
	if err != nil {
		t.Fatal(err)
	}
	if c.SCRAMSHA256 != "" || !VerifyPassword(c.PasswordHash, "🔑key") {
		t.Errorf("emoji password: %+v", c)
	}
}

// TestSCRAMKeysRFC7677 checks the key derivation against the example
// exchange of RFC 7677 §3 (user "user", password "pencil").
func TestSCRAMKeysRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	sc, err := scramKeys("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	const (
		clientFirstBare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst     = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
		finalNoProof    = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
		proof           = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		serverSig       = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
	)
	authMsg := clientFirstBare + "," + serverFirst + "," + finalNoProof
	if got := base64.StdEncoding.EncodeToString(hmacSHA256(sc.ServerKey, authMsg)); got != serverSig {
		t.Errorf("ServerSignature = %s, want %s", got, serverSig)
	}
	p, _ := base64.StdEncoding.DecodeString(proof)
	clientSig := hmacSHA256(sc.StoredKey, authMsg)
	clientKey := make([]byte, len(p))
	for i := range p {
		clientKey[i] = p[i] ^ clientSig[i]
	}
	if sum := sha256.Sum256(clientKey); !hmac.Equal(sum[:], sc.StoredKey) {
		t.Errorf("the RFC's ClientProof does not match StoredKey")
	}
}

func TestParseSCRAMMalformed(t *testing.T) {
	good := encodeSCRAM(mustKeys(t, 4096, 16))
	f := strings.Split(good, "$") // "", scram-sha-256, i=4096, salt, stored, server
	build := func(parts ...string) string { return strings.Join(parts, "$") }
	b64 := base64.RawStdEncoding.EncodeToString
	tests := map[string]string{
		"empty":              "",
		"other hash":         build("", "scram-sha-1", f[2], f[3], f[4], f[5]),
		"too few iterations": build("", f[1], "i=4095", f[3], f[4], f[5]),
		"iterations huge":    build("", f[1], "i=99999999999", f[3], f[4], f[5]),
		"no i=":              build("", f[1], "4096", f[3], f[4], f[5]),
		"missing key":        build("", f[1], f[2], f[3], f[4]),
		"extra field":        good + "$x",
		"salt too short":     build("", f[1], f[2], b64(make([]byte, 7)), f[4], f[5]),
		"stored key short":   build("", f[1], f[2], f[3], b64(make([]byte, 31)), f[5]),
		"server key long":    build("", f[1], f[2], f[3], f[4], b64(make([]byte, 33))),
		"padded":             build("", f[1], f[2], f[3]+"==", f[4], f[5]),
		"too long":           good + strings.Repeat("A", maxSCRAMCreds),
	}
	for name, s := range tests {
		if _, err := parseSCRAM(s); err == nil {
			t.Errorf("%s: parseSCRAM(%q) succeeded", name, s)
		}
	}
	if _, err := parseSCRAM(good); err != nil {
		t.Errorf("parseSCRAM(good): %v", err)
	}
}

func mustKeys(t testing.TB, iters, saltLen int) scram.StoredCredentials {
	t.Helper()
	c, err := scramKeys("pw", make([]byte, saltLen), iters)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func BenchmarkHashPassword(b *testing.B) {
	for _, p := range []argonParams{defaultArgon, hashArgon} {
		b.Run(fmt.Sprintf("m=%d,t=%d,p=%d", p.memory, p.time, p.threads), func(b *testing.B) {
			saved := hashArgon
			hashArgon = p
			defer func() { hashArgon = saved }()
			for b.Loop() {
				if _, err := HashPassword("correct horse battery staple"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
