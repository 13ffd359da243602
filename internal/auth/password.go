package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xdg-go/stringprep"
	"golang.org/x/crypto/argon2"
)

// MaxPasswordLen is the longest password, in bytes, that can be set or
// checked. Longer ones are refused without hashing, so a client cannot make
// the server hash megabytes.
const MaxPasswordLen = 1024

// argonParams are the argon2id cost parameters and sizes (RFC 9106 §3.1).
type argonParams struct {
	memory  uint32 // KiB
	time    uint32 // passes
	threads uint8  // lanes
	saltLen int
	keyLen  int
}

// defaultArgon is the cost of new hashes: 64 MiB, 3 passes, 2 lanes, a
// 16-byte salt and a 32-byte key. It is RFC 9106 §4's second recommended
// option (64 MiB, t=3) with 2 lanes instead of 4, for small servers; one
// check takes about 0.2 s of two cores. Verification uses the parameters
// stored in each hash, so raising these later keeps old hashes valid.
var defaultArgon = argonParams{memory: 64 * 1024, time: 3, threads: 2, saltLen: 16, keyLen: 32}

// hashArgon is what HashPassword uses; tests lower it to stay fast.
var hashArgon = defaultArgon

// Bounds on the parameters read from an encoded hash, so that a corrupt or
// hostile hash cannot make VerifyPassword allocate or spin without bound.
// Variables so that the fuzz test can lower them.
var (
	maxArgonMemory uint32 = 1 << 20 // KiB: 1 GiB
	maxArgonTime   uint32 = 64
)

const (
	minArgonSalt   = 8 // RFC 9106 §3.1: salt of at least 8 bytes
	maxArgonSalt   = 64
	minArgonKey    = 16
	maxArgonKey    = 64
	maxArgonThread = 64
	maxEncodedLen  = 512 // longer than any hash within the bounds above
)

// errBadHash says an encoded password hash could not be parsed.
var errBadHash = errors.New("auth: malformed password hash")

// HashPassword hashes a password with argon2id and returns it in PHC string
// form, with its parameters and a random 16-byte salt:
//
//	$argon2id$v=19$m=65536,t=3,p=2$<salt>$<key>
//
// where salt and key are base64 without padding (RawStdEncoding). The cost
// is 64 MiB of memory, 3 passes and 2 lanes: about 0.2 s on a small server
// (BenchmarkHashPassword). The password is first prepared with SASLprep
// (RFC 4013), as RFC 4616 §2 asks for PLAIN, so that every mechanism
// compares the same string; see preparePassword. It must be 1 to
// MaxPasswordLen bytes long.
func HashPassword(password string) (string, error) {
	if err := checkNewPassword(password); err != nil {
		return "", err
	}
	p := hashArgon
	salt := make([]byte, p.saltLen)
	rand.Read(salt) // never fails (crypto/rand)
	pw, _ := preparePassword(password)
	return encodeArgon(p, salt, argonKey(p, pw, salt)), nil
}

// VerifyPassword reports whether password matches an encoded hash made by
// HashPassword, comparing in constant time. It is false for any malformed
// encoding or parameters out of bounds, and never panics. It hashes at
// once: logins go through an Authenticator, which shares the hashing
// fairly among clients.
func VerifyPassword(encoded, password string) bool {
	p, salt, want, err := parseArgon(encoded)
	return err == nil && checkArgon(p, salt, want, password)
}

// checkArgon reports whether password, prepared as HashPassword does,
// hashes to want with p and salt, comparing in constant time. A password
// longer than MaxPasswordLen is false without hashing.
func checkArgon(p argonParams, salt, want []byte, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	pw, _ := preparePassword(password)
	return subtle.ConstantTimeCompare(argonKey(p, pw, salt), want) == 1
}

// checkNewPassword refuses passwords that cannot be set.
func checkNewPassword(password string) error {
	switch {
	case password == "":
		return errors.New("auth: empty password")
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("auth: password longer than %d bytes", MaxPasswordLen)
	}
	return nil
}

// preparePassword applies SASLprep (RFC 4013, stored-string rules, as
// RFC 5802 §2.2 wants for SCRAM). It reports false, and returns the password
// unchanged, when SASLprep refuses it (for instance code points that
// Unicode 3.2 does not assign, such as emoji) or maps it to nothing.
// Comparing such a password unprepared, rather than failing as RFC 4616 §2
// says, keeps emoji passwords usable: RFC 4616 prepares query strings,
// which allow unassigned code points, and the stringprep package offers
// only stored-string rules.
func preparePassword(password string) (string, bool) {
	p, err := stringprep.SASLprep.Prepare(password)
	if err != nil || p == "" {
		return password, false
	}
	return p, true
}

// argonKey derives an argon2id key. p must be within the bounds parseArgon
// checks.
func argonKey(p argonParams, password string, salt []byte) []byte {
	return argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(p.keyLen))
}

func encodeArgon(p argonParams, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.memory, p.time, p.threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// parseArgon parses the PHC string form written by encodeArgon, checking
// every parameter against the bounds above.
func parseArgon(encoded string) (p argonParams, salt, key []byte, err error) {
	if len(encoded) > maxEncodedLen {
		return p, nil, nil, errBadHash
	}
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return p, nil, nil, errBadHash
	}
	m, ok1 := decimalField(ps[0], "m=", maxArgonMemory)
	t, ok2 := decimalField(ps[1], "t=", maxArgonTime)
	l, ok3 := decimalField(ps[2], "p=", maxArgonThread)
	if !ok1 || !ok2 || !ok3 || m == 0 || t == 0 || l == 0 {
		return p, nil, nil, errBadHash
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err1 := b64.DecodeString(f[4])
	key, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil ||
		len(salt) < minArgonSalt || len(salt) > maxArgonSalt ||
		len(key) < minArgonKey || len(key) > maxArgonKey {
		return p, nil, nil, errBadHash
	}
	p = argonParams{memory: m, time: t, threads: uint8(l), saltLen: len(salt), keyLen: len(key)}
	return p, salt, key, nil
}

// decimalField parses "<prefix><decimal>" with a value of at most limit.
func decimalField(s, prefix string, limit uint32) (uint32, bool) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok || digits == "" || len(digits) > 10 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n > uint64(limit) {
		return 0, false
	}
	return uint32(n), true
}
