package main

import (
	"fmt"

	"postel/internal/admin"
)

// runReload asks the running server to read its configuration,
// certificates and DKIM keys again, as SIGHUP does.
func runReload(e *env, args []string) error {
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	if err := e.call("reload", admin.NoArgs{}, nil); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "reloaded: configuration, certificates and DKIM keys (keys that need a restart are named in the server's log)")
	return nil
}
