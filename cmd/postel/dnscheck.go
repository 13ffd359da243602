package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"postel/internal/dkim"
	"postel/internal/dns"
	"postel/internal/quickstart"
)

// runDNSCheck is postel dns check DOMAIN: it asks the configured resolvers
// for every record postel init printed for the domain and reports which
// are missing or wrong (quickstart.CheckDNS); the exit status is 1 when
// any is.
func runDNSCheck(e *env, args []string) error {
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	domain, err := quickstart.NormalizeName(pos[0])
	if err != nil {
		return usageError{fmt.Sprintf("domain %q: %v", pos[0], err)}
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	keys, err := dkim.Records(filepath.Join(cfg.DataDir, "dkim"), domain)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(e.stderr, "postel dns check: %s has no DKIM keys in %s, so their records are not checked; postel dkim gen %s makes them\n",
			domain, filepath.Join(cfg.DataDir, "dkim"), domain)
	} else if err != nil {
		return err
	}
	r, err := dns.New(dns.Config{Servers: cfg.DNS.Servers, Timeout: time.Duration(cfg.DNS.Timeout), Attempts: cfg.DNS.Attempts})
	if err != nil {
		return err
	}
	servers := "the resolvers of /etc/resolv.conf"
	if len(cfg.DNS.Servers) > 0 {
		servers = strings.Join(cfg.DNS.Servers, ", ")
	}
	fmt.Fprintf(e.stdout, "The records of %s, for the server %s, as %s answer:\n\n", domain, cfg.Hostname, servers)
	findings := quickstart.CheckDNS(e.ctx, r, cfg, domain, keys)
	if n := quickstart.Report(e.stdout, findings); n > 0 {
		return fmt.Errorf("%d of %d records missing, wrong or not checked", n, len(findings))
	}
	return nil
}
