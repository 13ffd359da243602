package quickstart

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"postel/internal/auth"
	"postel/internal/config"
	"postel/internal/dkim"
	"postel/internal/store/sqlite"
)

func openSQLite(ctx context.Context, dir string) (Store, error) {
	return sqlite.Open(ctx, dir, sqlite.Options{})
}

func TestInit(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		opts       Options
		domain     string
		account    string
		hostname   string
		acme       bool
		acmeNote   string
		generated  bool
		wantRecord string // among the records
	}{
		{"documentation name, defaults", Options{Domain: "Example.ORG."},
			"example.org", "postmaster@example.org", "mail.example.org", false, "# Off: mail.example.org is a special-use or documentation name", true,
			"_dmarc.example.org. TXT v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org"},
		{"public name, given account and password", Options{Domain: "postel.dev", Hostname: "MX.postel.dev", Account: "Admin@postel.dev", Password: "a given password"},
			"postel.dev", "admin@postel.dev", "mx.postel.dev", true, "# On: mx.postel.dev is a public name", false,
			`postel.dev. CAA 0 issue "letsencrypt.org"`},
		{"internationalized domain", Options{Domain: "bücher.example"},
			"xn--bcher-kva.example", "postmaster@xn--bcher-kva.example", "mail.xn--bcher-kva.example", false, "# Off:", true,
			"xn--bcher-kva.example. MX 10 mail.xn--bcher-kva.example."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each hashes a password and makes an RSA key
			dir := t.TempDir()
			o := tt.opts
			o.DataDir = filepath.Join(dir, "data")
			o.ConfigPath = filepath.Join(dir, "etc", "postel.toml")
			res, err := Init(ctx, o, openSQLite)
			if err != nil {
				t.Fatal(err)
			}
			if res.Domain != tt.domain || res.Account != tt.account || res.Generated != tt.generated {
				t.Errorf("Init() = domain %q account %q generated %v", res.Domain, res.Account, res.Generated)
			}
			if tt.generated && len(res.Password) < 20 || !tt.generated && res.Password != o.Password {
				t.Errorf("password %q", res.Password)
			}

			// The config file: private, commented, and what the server loads.
			fi, err := os.Stat(o.ConfigPath)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("config file: %v %v", fi, err)
			}
			c, err := config.Load(o.ConfigPath)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, res.Config) || c.Hostname != tt.hostname || c.DataDir != o.DataDir || c.ACME.Enabled != tt.acme {
				t.Errorf("loaded config = %+v\nwant %+v", c, res.Config)
			}
			text, _ := os.ReadFile(o.ConfigPath)
			for _, want := range []string{"# Postel configuration for " + tt.domain + ", written by postel init.\n", tt.acmeNote, "\n[queue]\n", "\n# Delivery workers running at once.\nworkers = 8\n"} {
				if !strings.Contains(string(text), want) {
					t.Errorf("config file lacks %q", want)
				}
			}
			// The data dir passes what serve checks before starting.
			if err := c.Check(config.CheckOptions{}); err != nil {
				t.Errorf("Check() of the new config: %v", err)
			}
			if fi, err := os.Stat(o.DataDir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("data dir: %v %v", fi, err)
			}

			// The domain and the account, with the password.
			st, err := sqlite.Open(ctx, o.DataDir, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if ok, err := st.HasDomain(ctx, tt.domain); !ok || err != nil {
				t.Errorf("HasDomain(%s) = %v, %v", tt.domain, ok, err)
			}
			a, err := st.Account(ctx, tt.account)
			if err != nil {
				t.Fatal(err)
			}
			if !auth.VerifyPassword(a.Credentials.PasswordHash, res.Password) || auth.VerifyPassword(a.Credentials.PasswordHash, res.Password+"x") {
				t.Error("the account's password is not the one returned")
			}

			// The DKIM keys, and records that name them and the rest.
			keys, err := dkim.Records(filepath.Join(o.DataDir, "dkim"), tt.domain)
			if err != nil || len(keys) != 2 {
				t.Fatalf("DKIM keys: %v %v", keys, err)
			}
			if want := Records(c, tt.domain, keys); !reflect.DeepEqual(res.Records, want) {
				t.Errorf("records = %v\nwant %v", res.Records, want)
			}
			var all []string
			for _, r := range res.Records {
				all = append(all, r.Name+" "+r.Type+" "+r.Value)
			}
			for _, want := range []string{tt.wantRecord, keys[0].Name + " TXT " + keys[0].Value, keys[1].Name + " TXT " + keys[1].Value} {
				if !strings.Contains(strings.Join(all, "\n"), want) {
					t.Errorf("records lack %q:\n%s", want, strings.Join(all, "\n"))
				}
			}
		})
	}
}

func TestInitRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		opts    Options
		prepare func(t *testing.T, o Options)
		want    string
	}{
		{"existing config", Options{Domain: "example.org"}, func(t *testing.T, o Options) {
			os.MkdirAll(filepath.Dir(o.ConfigPath), 0o755)
			if err := os.WriteFile(o.ConfigPath, []byte("# mine\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "postel.toml: file already exists: postel init does not overwrite a configuration"},
		{"data dir in use", Options{Domain: "example.org"}, func(t *testing.T, o Options) {
			os.MkdirAll(o.DataDir, 0o700)
			if err := os.WriteFile(filepath.Join(o.DataDir, "postel.db"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "data is not empty: postel init sets up a new server"},
		{"single-label domain", Options{Domain: "example"}, nil, `domain "example": "example" is not a fully qualified domain name`},
		{"localhost", Options{Domain: "example.org", Hostname: "localhost"}, nil, `host name "localhost": "localhost" names this machine only`},
		{"not a name", Options{Domain: "exa mple.org"}, nil, `domain "exa mple.org": not a domain name`},
		{"account elsewhere", Options{Domain: "example.org", Account: "me@example.net"}, nil, `the first account "me@example.net" is not an address at example.org`},
		{"short password", Options{Domain: "example.org", Password: "short"}, nil, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := tt.opts
			o.DataDir = filepath.Join(dir, "data")
			o.ConfigPath = filepath.Join(dir, "etc", "postel.toml")
			if tt.prepare != nil {
				tt.prepare(t, o)
			}
			before := snapshot(t, dir)
			_, err := Init(ctx, o, openSQLite)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Init() = %v, want an error containing %q", err, tt.want)
			}
			if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
				t.Errorf("Init() left files behind: before %v, after %v", before, after)
			}
		})
	}
}

// A failure half-way removes what Init made, and only that.
func TestInitCleansUp(t *testing.T) {
	ctx := context.Background()
	broken := func(context.Context, string) (Store, error) { return nil, errors.New("disk on fire") }
	for _, existing := range []bool{false, true} {
		dir := t.TempDir()
		o := Options{Domain: "example.org", DataDir: filepath.Join(dir, "data"), ConfigPath: filepath.Join(dir, "postel.toml")}
		if existing {
			if err := os.Mkdir(o.DataDir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		before := snapshot(t, dir)
		if _, err := Init(ctx, o, broken); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("Init() = %v", err)
		}
		if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
			t.Errorf("data dir existing %v: before %v, after %v", existing, before, after)
		}
	}
}

// snapshot lists the files under dir with their sizes.
func snapshot(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[path] = fi.Size()
		if fi.IsDir() {
			out[path] = -1
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
