package srs

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the size of the secret LoadOrCreateKey keeps.
const KeySize = 32

// LoadOrCreateKey returns the secret kept in the file at path, creating it
// with KeySize random bytes when it is missing: written to a temporary
// file, fsynced, linked into place and the directory fsynced, mode 0600. A
// crash leaves no file or the whole one, and of two processes creating it
// at once both end up with the one that was linked first. The directory
// must exist. A file of another size is an error, not replaced: addresses
// already sent out depend on it.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if key, err = NewKey(); err != nil {
		return nil, err
	}
	if err := createKey(path, key); errors.Is(err, fs.ErrExist) {
		return readKey(path) // made by someone else meanwhile
	} else if err != nil {
		return nil, fmt.Errorf("srs: creating %s: %w", path, err)
	}
	return key, nil
}

// NewKey returns a new secret: KeySize random bytes.
func NewKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("srs: %w", err)
	}
	return key, nil
}

func readKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("srs: %s has %d bytes, want %d", path, len(key), KeySize)
	}
	return key, nil
}

// createKey writes key to a new file at path, failing with fs.ErrExist
// when there is one.
func createKey(path string, key []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-srs-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = writeSynced(f, key)
	if err == nil {
		// A link, unlike a rename, never replaces a file another
		// process created meanwhile.
		err = os.Link(tmp, path)
	}
	if rerr := os.Remove(tmp); err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// writeSynced makes f private, writes data, fsyncs and closes it.
func writeSynced(f *os.File, data []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
