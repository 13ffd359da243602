// Package accounts holds the test accounts and certificate the protocol
// servers' tests share: their credentials are derived once per test
// binary (argon2id is slow on purpose). Only tests import it; it lives
// apart from testutil because it imports internal/auth, whose own tests
// use testutil.
package accounts

import (
	"crypto/tls"
	"sync"
	"time"

	"postel/internal/auth"
	"postel/internal/certs"
	"postel/internal/store"
)

// The test accounts' passwords.
const (
	AlicePass = "alice's correct horse"
	BobPass   = "bob's battery staple"
)

// Credentials returns the stored credentials of alice@example.org and
// bob@example.org, by address.
var Credentials = sync.OnceValues(func() (map[string]store.Credentials, error) {
	out := map[string]store.Credentials{}
	for addr, pw := range map[string]string{"alice@example.org": AlicePass, "bob@example.org": BobPass} {
		c, err := auth.NewCredentials(pw)
		if err != nil {
			return nil, err
		}
		out[addr] = c
	}
	return out, nil
})

// Cert is a self-signed certificate for localhost, 127.0.0.1 and ::1.
var Cert = sync.OnceValues(func() (tls.Certificate, error) {
	return certs.SelfSigned("localhost", 24*time.Hour)
})
