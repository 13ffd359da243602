package quickstart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"postel/internal/config"
)

// NewConfig returns the configuration postel init writes: the production
// defaults (config.Default), with hostname and data_dir set, and ACME on
// when hostname is a public name a certificate authority can check.
func NewConfig(domain, hostname, dataDir string) *config.Config {
	c := config.Default()
	c.Hostname = hostname
	c.DataDir = dataDir
	c.ACME.Enabled = isPublicName(hostname)
	return c
}

// configNotes are the comments that say why postel init chose a value, by
// key; config.EncodeCommented writes them under each key's documentation.
func configNotes(c *config.Config, domain string) map[string]string {
	notes := map[string]string{
		"hostname":                      fmt.Sprintf("Chosen by postel init: the MX record of %s names this host; its A (and AAAA) record must hold this machine's public address, and the reverse DNS (PTR) of that address should name it back.", domain),
		"data_dir":                      fmt.Sprintf("Created by postel init (mode 0700) with the domain %s, its DKIM keys (data_dir/dkim) and the first account. Back it up; postel serve refuses to start when it is missing.", domain),
		"listen":                        "Every service on its standard port, on every interface. Port 25 must be reachable from the Internet for mail to arrive, and many providers block it: ask yours. An empty address closes that port.",
		"auth.allow_plaintext_loopback": "Off: passwords only ever travel over TLS, from this machine too.",
		"dns.servers":                   "Empty: the resolvers of /etc/resolv.conf. For DANE when sending, run a validating resolver on this machine (unbound, for one) and name it here: \"127.0.0.1:53\".",
		"acme.challenge":                "tls-alpn-01 (RFC 8737) needs only port 443, which serves client setup and the MTA-STS policy anyway; http-01 would open port 80 as well.",
	}
	if c.ACME.Enabled {
		notes["acme.enabled"] = fmt.Sprintf("On: %s is a public name, so Let's Encrypt can check that this server answers for it (on port 443, listen.https) and issue certificates for it and for mta-sts.%s and autoconfig.%s, which the MTA-STS policy and mail client setup are served under.", c.Hostname, domain, domain)
		notes["tls"] = "Empty: the certificates come from ACME."
	} else {
		notes["acme.enabled"] = fmt.Sprintf("Off: %s is a special-use or documentation name no public certificate authority issues for, so the server makes a self-signed certificate that mail clients must be told to accept. With a public host name, turn this on, or set [tls] cert_file and key_file.", c.Hostname)
		notes["tls"] = "Empty: a self-signed certificate for hostname, made at the first start and kept in data_dir/tls."
	}
	return notes
}

// writeConfig writes c, commented, to a new file at path; an existing file
// is an error (fs.ErrExist).
func writeConfig(path string, c *config.Config, domain string) (err error) {
	var b strings.Builder
	header := fmt.Sprintf("Postel configuration for %s, written by postel init.\n"+
		"Every key is set, with its documentation above it (docs/config.md is the same reference).\n"+
		"After a change: postel config check --config %s", domain, path)
	if err := c.EncodeCommented(&b, header, configNotes(c, domain)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w: postel init does not overwrite a configuration; remove it, or name another with --config", path, fs.ErrExist)
	} else if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
