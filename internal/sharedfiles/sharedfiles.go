// Package sharedfiles keeps the secrets that every node of one store must
// hold alike the same in each node's data_dir, through the store
// (store.SharedFiles, the PostgreSQL store): the DKIM private keys
// (data_dir/dkim/DOMAIN/SELECTOR.key, internal/dkim), with which each node
// signs, and the SRS secret (data_dir/srs.key, internal/srs), with which
// each node makes and checks SRS addresses. The server runs Sync at its
// start and at each reload, before it loads either; `postel dkim gen`
// publishes the keys it makes (Publish); `postel store copy` puts the data
// dir's into the new store.
//
// Invariants:
//   - A secret is never replaced, in data_dir or in the store: one present
//     in both with different contents is a conflict, reported (a
//     *ConflictError naming the files) and left as it is. Keys in use must
//     not change under a node, nor under the mail already signed or sent
//     with an SRS address.
//   - A file written into data_dir appears whole or not at all: written to
//     a temporary file (mode 0600) in its directory, fsynced, linked into
//     place, the directory fsynced; missing directories are made mode
//     0700. A link, unlike a rename, never replaces a file made meanwhile
//     (postel dkim gen, another process): that case is compared like any
//     other.
package sharedfiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"postel/internal/store"
)

// Local reads the secrets in dataDir that the nodes share: srs.key,
// objectid.key and dkim/DOMAIN/SELECTOR.key, by their names (store.CheckSharedFileName).
// Other files (temporary ones, anything an operator left there) are not
// secrets to share and are skipped. A secret that is empty or larger than
// store.MaxSharedFileSize is an error: it is no key.
func Local(dataDir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	add := func(name string) error {
		data, err := os.ReadFile(filepath.Join(dataDir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("sharedfiles: %w", err)
		}
		if len(data) == 0 || len(data) > store.MaxSharedFileSize {
			return fmt.Errorf("sharedfiles: %s has %d bytes: not a key to share (1 to %d)",
				filepath.Join(dataDir, filepath.FromSlash(name)), len(data), store.MaxSharedFileSize)
		}
		out[name] = data
		return nil
	}
	for _, name := range []string{"srs.key", "objectid.key"} {
		if err := add(name); err != nil {
			return nil, err
		}
	}
	domains, err := os.ReadDir(filepath.Join(dataDir, "dkim"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sharedfiles: %w", err)
	}
	for _, d := range domains {
		keys, err := os.ReadDir(filepath.Join(dataDir, "dkim", d.Name()))
		if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("sharedfiles: %w", err)
		}
		for _, k := range keys {
			name := "dkim/" + d.Name() + "/" + k.Name()
			if k.IsDir() || store.CheckSharedFileName(name) != nil {
				continue
			}
			if err := add(name); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// Options tune Sync.
type Options struct {
	// Make creates, by name, the secrets that neither the store nor
	// data_dir holds yet (the SRS secret, when SRS is on). A new one is
	// put into the store before it is written into data_dir: of nodes
	// starting together, the first put wins and the others take it.
	Make map[string]func() ([]byte, error)
}

// Result says what Sync did, by name.
type Result struct {
	Fetched   []string // written into data_dir from the store
	Published []string // put into the store from data_dir
	Created   []string // made (Options.Make), put into the store, written into data_dir
}

// ConflictError: secrets present in data_dir and in the store with
// different contents. Neither copy was changed.
type ConflictError struct {
	DataDir string
	Names   []string // sorted
}

func (e *ConflictError) Error() string {
	paths := make([]string, len(e.Names))
	for i, n := range e.Names {
		paths[i] = filepath.Join(e.DataDir, filepath.FromSlash(n))
	}
	differ := "differs"
	if len(paths) > 1 {
		differ = "differ"
	}
	return fmt.Sprintf("sharedfiles: %s %s from the copy in the store, which the other nodes use; neither was replaced. "+
		"To take the store's, move this node's file aside and start again (or postel reload); see docs/deploy.md, section 11",
		strings.Join(paths, ", "), differ)
}

// Sync brings dataDir and the store into step: every secret of the store
// missing in dataDir is written there, every secret of dataDir missing in
// the store is put there (the first node that has a key publishes it), and
// those of opts.Make that neither has are made. A secret present in both
// with different contents is left alone: after doing everything else,
// Sync returns a *ConflictError naming them (joined with any error of
// other files).
func Sync(ctx context.Context, st store.SharedFiles, dataDir string, opts Options) (Result, error) {
	var res Result
	stored, err := st.SharedFiles(ctx)
	if err != nil {
		return res, fmt.Errorf("sharedfiles: reading the store's: %w", err)
	}
	local, err := Local(dataDir)
	if err != nil {
		return res, err
	}
	created := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(opts.Make)) {
		if _, ok := stored[name]; ok {
			continue
		}
		if _, ok := local[name]; ok {
			continue
		}
		data, err := opts.Make[name]()
		if err != nil {
			return res, fmt.Errorf("sharedfiles: making %s: %w", name, err)
		}
		switch err := st.PutSharedFile(ctx, name, data); {
		case err == nil:
			stored[name] = data
			created[name] = true
			res.Created = append(res.Created, name)
		case errors.Is(err, store.ErrExists):
			// Another node made it meanwhile: take that one.
			if stored, err = st.SharedFiles(ctx); err != nil {
				return res, fmt.Errorf("sharedfiles: reading the store's: %w", err)
			}
		default:
			return res, fmt.Errorf("sharedfiles: putting %s into the store: %w", name, err)
		}
	}
	var errs []error
	conflict := &ConflictError{DataDir: dataDir}
	names := slices.Sorted(maps.Keys(stored))
	for name := range local {
		if _, ok := stored[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		l, inLocal := local[name]
		r, inStore := stored[name]
		switch {
		case inLocal && inStore:
			if !bytes.Equal(l, r) {
				conflict.Names = append(conflict.Names, name)
			}
		case inStore:
			if err := store.CheckSharedFileName(name); err != nil {
				errs = append(errs, fmt.Errorf("sharedfiles: the store holds %w", err))
				continue
			}
			same, err := writeNew(dataDir, name, r)
			switch {
			case err != nil:
				errs = append(errs, err)
			case !same:
				conflict.Names = append(conflict.Names, name)
			case !created[name]:
				res.Fetched = append(res.Fetched, name)
			}
		default:
			switch err := st.PutSharedFile(ctx, name, l); {
			case errors.Is(err, store.ErrExists):
				conflict.Names = append(conflict.Names, name) // put by another node meanwhile
			case err != nil:
				errs = append(errs, fmt.Errorf("sharedfiles: putting %s into the store: %w", name, err))
			default:
				res.Published = append(res.Published, name)
			}
		}
	}
	if len(conflict.Names) > 0 {
		errs = append(errs, conflict)
	}
	return res, errors.Join(errs...)
}

// Publish puts the secrets of dataDir whose names start with prefix ("" for
// all) into the store and returns their names: the keys `postel dkim gen`
// just made. Those the store holds already with the same contents are
// nothing new; with other contents they are a *ConflictError.
func Publish(ctx context.Context, st store.SharedFiles, dataDir, prefix string) ([]string, error) {
	local, err := Local(dataDir)
	if err != nil {
		return nil, err
	}
	var done []string
	conflict := &ConflictError{DataDir: dataDir}
	for _, name := range slices.Sorted(maps.Keys(local)) {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		switch err := st.PutSharedFile(ctx, name, local[name]); {
		case errors.Is(err, store.ErrExists):
			conflict.Names = append(conflict.Names, name)
		case err != nil:
			return done, fmt.Errorf("sharedfiles: putting %s into the store: %w", name, err)
		default:
			done = append(done, name)
		}
	}
	if len(conflict.Names) > 0 {
		return done, conflict
	}
	return done, nil
}

// writeNew writes data as dataDir/name, which must not exist: missing
// directories made mode 0700 (each fsynced into its parent), the file
// through a temporary one, mode 0600, fsynced and linked into place, the
// directory fsynced. When the file exists (made meanwhile), nothing is
// written and same tells whether it holds data.
func writeNew(dataDir, name string, data []byte) (same bool, err error) {
	path := filepath.Join(dataDir, filepath.FromSlash(name))
	dir := filepath.Dir(path)
	if err := mkdirs(dataDir, dir); err != nil {
		return false, fmt.Errorf("sharedfiles: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-shared-*")
	if err != nil {
		return false, fmt.Errorf("sharedfiles: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	if rerr := os.Remove(tmp); err == nil {
		err = rerr
	}
	if errors.Is(err, fs.ErrExist) {
		have, rerr := os.ReadFile(path)
		if rerr != nil {
			return false, fmt.Errorf("sharedfiles: %w", rerr)
		}
		return bytes.Equal(have, data), nil
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return false, fmt.Errorf("sharedfiles: writing %s: %w", path, err)
	}
	return true, nil
}

// mkdirs makes dir and the missing directories between root (which
// exists) and it, mode 0700, each fsynced into its parent.
func mkdirs(root, dir string) error {
	if dir == root || len(dir) < len(root) {
		return nil
	}
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := mkdirs(root, parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
