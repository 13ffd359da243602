package main

import (
	"context"
	"fmt"

	"postel/internal/config"
	"postel/internal/quickstart"
	"postel/internal/store/sqlite"
)

// runInit is postel init DOMAIN: a new server, from its configuration to
// the DNS records its domain needs (quickstart.Init). --config names the
// file to write and --data-dir the directory to create (the common flags,
// read here before any config exists).
func runInit(e *env, args []string) error {
	hostname := e.flags.String("hostname", "", "this server's `NAME`, which the domain's MX record names (default mail.DOMAIN)")
	account := e.flags.String("account", "", "the first account's `ADDRESS` (default postmaster@DOMAIN)")
	stdinPW := e.flags.Bool("password-stdin", false, "read the account's password from the first line of standard input (default: generate one and print it)")
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	path := e.configPath
	if path == "" {
		path = config.DefaultPath()
	}
	var password string
	if *stdinPW {
		if password, err = e.readPassword(true); err != nil {
			return err
		}
	}
	res, err := quickstart.Init(e.ctx, quickstart.Options{
		Domain:     pos[0],
		Hostname:   *hostname,
		DataDir:    e.dataDir, // --data-dir: the directory to create (default /var/lib/postel)
		ConfigPath: path,
		Account:    *account,
		Password:   password,
	}, func(ctx context.Context, dir string) (quickstart.Store, error) {
		return sqlite.Open(ctx, dir, sqlite.Options{})
	})
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "Wrote %s: every setting, with what it does.\n", path)
	fmt.Fprintf(w, "Created %s (mode 0700) with the domain %s, its DKIM keys and the account %s.\n", res.Config.DataDir, res.Domain, res.Account)
	fmt.Fprintln(w, "Both belong to the user who ran postel init: run postel serve as that user.")
	if res.Generated {
		fmt.Fprintf(w, "\nPassword of %s (shown only this once): %s\n", res.Account, res.Password)
	}
	fmt.Fprintf(w, `
Next:
  1. Publish the DNS records below in the zone of %[1]s.
  2. Check them: postel dns check %[1]s --config %[2]s
  3. Start the server: postel serve --config %[2]s
  4. Set up a mail client for %[3]s; it finds the servers from the records.

`, res.Domain, path, res.Account)
	fmt.Fprint(w, quickstart.FormatZone(res.Domain, res.Records))
	return nil
}
