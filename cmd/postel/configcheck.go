package main

import "postel/internal/config"

func runConfigCheck(e *env, args []string) error {
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	// Beyond the file: the data dir exists and is writable, the hostname
	// is a FQDN, the certificate matches its key and names the host.
	if err := cfg.Check(config.CheckOptions{}); err != nil {
		return err
	}
	return cfg.Encode(e.stdout)
}
