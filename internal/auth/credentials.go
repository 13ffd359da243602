package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/xdg-go/scram"

	"postel/internal/store"
)

// scramIterations is the PBKDF2 iteration count of new SCRAM-SHA-256 keys.
// RFC 7677 §4 asks for at least 4096; more costs only the client, once per
// salt, since clients cache the salted password.
var scramIterations = 10000

const (
	scramPrefix   = "$scram-sha-256$"
	scramSaltLen  = 16
	minSCRAMIter  = 4096 // RFC 7677 §4
	maxSCRAMIter  = 10_000_000
	minSCRAMSalt  = 8
	maxSCRAMSalt  = 64
	maxSCRAMCreds = 256
)

var errBadSCRAM = errors.New("auth: malformed SCRAM-SHA-256 credentials")

// NewCredentials derives what the store keeps for a new password: its
// argon2id hash (HashPassword) and its SCRAM-SHA-256 keys (RFC 5802 §3,
// RFC 7677). The password itself is not kept.
//
// SCRAM uses the password after SASLprep (RFC 4013), a random 16-byte salt
// and scramIterations PBKDF2 rounds. Credentials.SCRAMSHA256 holds
//
//	$scram-sha-256$i=<iterations>$<salt>$<StoredKey>$<ServerKey>
//
// with salt and keys in base64 without padding (RawStdEncoding), where
// StoredKey = SHA-256(HMAC(SaltedPassword, "Client Key")) and
// ServerKey = HMAC(SaltedPassword, "Server Key").
//
// A password that SASLprep refuses (for instance one with emoji, which
// Unicode 3.2 does not assign) still works with PLAIN, LOGIN and Login, but
// not with SCRAM-SHA-256, whose clients would refuse it too: SCRAMSHA256 is
// then left empty.
func NewCredentials(password string) (store.Credentials, error) {
	hash, err := HashPassword(password)
	if err != nil {
		return store.Credentials{}, err
	}
	cred := store.Credentials{PasswordHash: hash}
	if prepped, ok := preparePassword(password); ok {
		salt := make([]byte, scramSaltLen)
		rand.Read(salt) // never fails (crypto/rand)
		sc, err := scramKeys(prepped, salt, scramIterations)
		if err != nil {
			return store.Credentials{}, err
		}
		cred.SCRAMSHA256 = encodeSCRAM(sc)
	}
	return cred, nil
}

// scramKeys computes the stored SCRAM-SHA-256 credentials (RFC 5802 §3).
func scramKeys(prepped string, salt []byte, iters int) (scram.StoredCredentials, error) {
	salted, err := pbkdf2.Key(sha256.New, prepped, salt, iters, sha256.Size)
	if err != nil {
		return scram.StoredCredentials{}, fmt.Errorf("auth: SCRAM key derivation: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	return scram.StoredCredentials{
		KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: iters},
		StoredKey:  storedKey[:],
		ServerKey:  hmacSHA256(salted, "Server Key"),
	}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func encodeSCRAM(c scram.StoredCredentials) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("%si=%d$%s$%s$%s", scramPrefix, c.Iters,
		b64.EncodeToString([]byte(c.Salt)), b64.EncodeToString(c.StoredKey), b64.EncodeToString(c.ServerKey))
}

// parseSCRAM parses what encodeSCRAM wrote, within bounds.
func parseSCRAM(s string) (scram.StoredCredentials, error) {
	var c scram.StoredCredentials
	rest, ok := strings.CutPrefix(s, scramPrefix)
	if !ok || len(s) > maxSCRAMCreds {
		return c, errBadSCRAM
	}
	// "i=<n>", salt, StoredKey, ServerKey
	f := strings.Split(rest, "$")
	if len(f) != 4 {
		return c, errBadSCRAM
	}
	iters, ok := decimalField(f[0], "i=", maxSCRAMIter)
	if !ok || iters < minSCRAMIter {
		return c, errBadSCRAM
	}
	b64 := base64.RawStdEncoding.Strict()
	salt, err1 := b64.DecodeString(f[1])
	storedKey, err2 := b64.DecodeString(f[2])
	serverKey, err3 := b64.DecodeString(f[3])
	if err1 != nil || err2 != nil || err3 != nil ||
		len(salt) < minSCRAMSalt || len(salt) > maxSCRAMSalt ||
		len(storedKey) != sha256.Size || len(serverKey) != sha256.Size {
		return c, errBadSCRAM
	}
	c.Salt, c.Iters, c.StoredKey, c.ServerKey = string(salt), int(iters), storedKey, serverKey
	return c, nil
}
