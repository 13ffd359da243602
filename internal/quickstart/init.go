package quickstart

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/net/idna"

	"postel/internal/auth"
	"postel/internal/config"
	"postel/internal/dkim"
	"postel/internal/store"
)

// minPassword is the shortest password Init takes, as postel user add.
const minPassword = 8

// Options are the choices of postel init.
type Options struct {
	// Domain is the mail domain: addresses are user@Domain.
	Domain string
	// Hostname is this server's name; "" for "mail." + Domain.
	Hostname string
	// DataDir is the data directory to create; "" for the default
	// (config.Default).
	DataDir string
	// ConfigPath is where the configuration is written; it must not exist.
	ConfigPath string
	// Account is the first account; "" for postmaster@Domain, which the
	// DMARC and TLS-RPT records send reports to.
	Account string
	// Password is the account's password; "" to generate one.
	Password string
}

// Store is what Init needs of a store; *sqlite.Store has it.
type Store interface {
	AddDomain(ctx context.Context, name string) error
	CreateAccount(ctx context.Context, address string, cred store.Credentials) (store.Account, error)
	Close() error
}

// OpenFunc opens the store in a data directory that exists.
type OpenFunc func(ctx context.Context, dataDir string) (Store, error)

// Result is what Init made.
type Result struct {
	Config  *config.Config
	Domain  string // lower-case A-label form
	Account string
	// Password is the account's password, to show once when Generated.
	Password  string
	Generated bool
	// Records are the DNS records the domain needs.
	Records []Record
}

// Init sets up a new server: it writes the configuration to
// o.ConfigPath (refusing to overwrite a file), creates the data directory
// (mode 0700; it may exist if empty), the domain, its DKIM keys and the
// first account, and returns the DNS records to publish. On an error it
// removes what it created.
func Init(ctx context.Context, o Options, open OpenFunc) (res *Result, err error) {
	domain, err := NormalizeName(o.Domain)
	if err != nil {
		return nil, fmt.Errorf("domain %q: %w", o.Domain, err)
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = "mail." + domain
	}
	if hostname, err = NormalizeName(hostname); err != nil {
		return nil, fmt.Errorf("host name %q: %w", o.Hostname, err)
	}
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = config.Default().DataDir
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return nil, err
	}
	account := strings.ToLower(o.Account)
	if account == "" {
		account = "postmaster@" + domain
	}
	if !strings.HasSuffix(account, "@"+domain) {
		return nil, fmt.Errorf("the first account %q is not an address at %s", o.Account, domain)
	}
	password, generated := o.Password, false
	if password == "" {
		password, generated = rand.Text(), true
	} else if len(password) < minPassword {
		return nil, fmt.Errorf("password too short: use at least %d characters", minPassword)
	}

	c := NewConfig(domain, hostname, dataDir)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := emptyOrMissing(dataDir); err != nil {
		return nil, err
	}

	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	if err := os.MkdirAll(filepath.Dir(o.ConfigPath), 0o755); err != nil {
		return nil, err
	}
	if err := writeConfig(o.ConfigPath, c, domain); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { os.Remove(o.ConfigPath) })

	if _, statErr := os.Stat(dataDir); statErr != nil {
		cleanup = append(cleanup, func() { os.RemoveAll(dataDir) })
	} else {
		cleanup = append(cleanup, func() { emptyDir(dataDir) })
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := provision(ctx, open, dataDir, domain, account, password); err != nil {
		return nil, err
	}
	keys, err := dkim.Generate(filepath.Join(dataDir, "dkim"), domain)
	if err != nil {
		return nil, err
	}
	return &Result{
		Config:    c,
		Domain:    domain,
		Account:   account,
		Password:  password,
		Generated: generated,
		Records:   Records(c, domain, keys),
	}, nil
}

// provision creates the domain and the account in a new store.
func provision(ctx context.Context, open OpenFunc, dataDir, domain, account, password string) error {
	st, err := open(ctx, dataDir)
	if err != nil {
		return err
	}
	cred, err := auth.NewCredentials(password)
	if err != nil {
		st.Close()
		return err
	}
	if err := st.AddDomain(ctx, domain); err != nil {
		st.Close()
		return err
	}
	if _, err := st.CreateAccount(ctx, account, cred); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

// NormalizeName returns a domain name in lower-case A-label form without
// the final dot, as Records and CheckDNS take it, refusing what cannot be a
// mail domain or server name on the Internet (config.CheckHostname).
func NormalizeName(name string) (string, error) {
	ascii, err := idna.Lookup.ToASCII(strings.TrimSuffix(name, "."))
	if err != nil {
		return "", fmt.Errorf("not a domain name: %v", err)
	}
	ascii = strings.ToLower(ascii)
	if err := config.CheckHostname(ascii); err != nil {
		return "", err
	}
	return ascii, nil
}

// emptyOrMissing refuses a data directory that holds anything: init sets
// up a new server, and must not mix with an existing one.
func emptyOrMissing(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("data directory %s is not empty: postel init sets up a new server; for another domain on this one use postel domain add, postel dkim gen and postel user add", dir)
	}
	return nil
}

// emptyDir removes what dir holds, keeping dir.
func emptyDir(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
