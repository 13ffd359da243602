package config

import (
	"strings"
	"testing"
)

// TestValidateObservability: the keys of the admin listener and of the
// trace files are checked like the others.
func TestValidateObservability(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // "" for valid
	}{
		{"admin off", func(c *Config) { c.Listen.Admin = "" }, ""},
		{"admin beyond loopback, asked for", func(c *Config) { c.Listen.Admin = ":9100" }, ""},
		{"admin not host:port", func(c *Config) { c.Listen.Admin = "localhost" }, `listen.admin: "localhost" is not host:port`},
		{"admin on another listener's address", func(c *Config) { c.Listen.Admin = "127.0.0.1:2525"; c.Listen.SMTP = "127.0.0.1:2525" },
			`listen.admin: address "127.0.0.1:2525" is also used by listen.smtp`},
		{"trace accounts", func(c *Config) { c.Log.TraceAccounts = []string{"alice@example.org"} }, ""},
		{"trace account without a domain", func(c *Config) { c.Log.TraceAccounts = []string{"alice@"} }, `log.trace_accounts: "alice@" is not an account address`},
		{"trace account that is a path", func(c *Config) { c.Log.TraceAccounts = []string{"../x@y/z"} }, `log.trace_accounts: "../x@y/z" is not an account address`},
		{"trace dir empty", func(c *Config) { c.Log.TraceAccounts = []string{"a@b.example"}; c.Log.TraceDir = "" }, "log.trace_dir: empty"},
		{"trace dir empty without accounts", func(c *Config) { c.Log.TraceDir = "" }, ""},
	}
	for _, tc := range tests {
		c := Default()
		c.Hostname = "mail.example.org"
		tc.change(c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
