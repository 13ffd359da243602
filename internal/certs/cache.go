package certs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/acme/autocert"
)

// dirCache is the autocert.Cache of data_dir/acme: one file per key (the
// account key "acme_account+key", a certificate under its name with its
// key, challenge material while a validation runs), mode 0600 in a 0700
// directory. Unlike autocert.DirCache, a write is durable when Put
// returns (written with writeAtomic: fsync of the file and the directory),
// so a crash never loses a certificate and costs an issuance against the
// authority's rate limits.
//
// put, when set, is called after a value was stored: the Manager learns
// of every certificate autocert obtains or renews there, before autocert
// itself serves it.
type dirCache struct {
	dir string
	put func(key string, data []byte)
}

// newDirCache makes dir (mode 0700, tightened if it exists).
func newDirCache(dir string) (*dirCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	return &dirCache{dir: dir}, nil
}

// path returns the file of key. Keys come from autocert: names, and
// challenge tokens chosen by the authority (RFC 8555 §8.1: base64url), so
// anything that could leave the directory is refused.
func (c *dirCache) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, ".") || strings.ContainsAny(key, "/\\\x00") {
		return "", fmt.Errorf("certs: bad cache key %q", key)
	}
	return filepath.Join(c.dir, key), nil
}

// Get implements autocert.Cache.
func (c *dirCache) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := c.path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, autocert.ErrCacheMiss
	}
	return data, err
}

// Put implements autocert.Cache.
func (c *dirCache) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := c.path(key)
	if err != nil {
		return err
	}
	if err := writeAtomic(p, data, 0o600); err != nil {
		return err
	}
	if c.put != nil {
		c.put(key, data)
	}
	return nil
}

// Delete implements autocert.Cache.
func (c *dirCache) Delete(ctx context.Context, key string) error {
	p, err := c.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
