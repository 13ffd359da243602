// Package accounts holds the test accounts and certificate the protocol
// servers' tests share: their credentials are derived once per test
// binary (argon2id is slow on purpose). Only tests import it; it lives
// apart from testutil because it imports internal/auth, whose own tests
// use testutil.
package accounts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"postel/internal/auth"
	"postel/internal/certs"
	"postel/internal/store"
	"postel/internal/store/sqlite"
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

// World is a store with domain example.org and accounts alice and bob,
// and TLS configurations for a server with Cert and a client trusting it.
type World struct {
	Store      *sqlite.Store
	Alice, Bob store.Account
	ServerTLS  *tls.Config
	ClientTLS  *tls.Config
}

// New makes a World in dir, closed when the test ends.
func New(t testing.TB, dir string) *World {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := Credentials()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	w := &World{Store: st}
	if w.Alice, err = st.CreateAccount(ctx, "alice@example.org", creds["alice@example.org"]); err != nil {
		t.Fatal(err)
	}
	if w.Bob, err = st.CreateAccount(ctx, "bob@example.org", creds["bob@example.org"]); err != nil {
		t.Fatal(err)
	}
	cert, err := Cert()
	if err != nil {
		t.Fatal(err)
	}
	w.ServerTLS = certs.ServerTLSConfig(cert)
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	w.ClientTLS = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	return w
}
