package pgtest

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// owner is the user a server runs as when the tests run as root, which
// PostgreSQL refuses: Debian's package creates the user postgres.
type owner struct {
	name     string
	uid, gid uint32
}

// serverOwner returns the user to run the server as, or nil to run it as
// the current user (anyone but root).
func serverOwner() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, &unavailableError{"running as root, which PostgreSQL refuses, and there is no user postgres to run it as (Debian's postgresql package creates it): " + err.Error()}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %v", err)
	}
	return &owner{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// credential returns the process attributes that run a command as o
// (nil: as the current user).
func (o *owner) credential() *syscall.Credential {
	if o == nil {
		return nil
	}
	// Groups left empty: the server needs none but its own.
	return &syscall.Credential{Uid: o.uid, Gid: o.gid}
}

// canSearch reports whether o may reach into dir: dir and every directory
// above it must be searchable (x) by o's user or primary group, or by
// everyone.
func (o *owner) canSearch(dir string) error {
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return err
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", dir)
		}
		perm := fi.Mode().Perm()
		var x os.FileMode = 0o001
		switch {
		case st.Uid == o.uid:
			x = 0o100
		case st.Gid == o.gid:
			x = 0o010
		}
		if perm&x == 0 {
			return fmt.Errorf("user %s may not search %s (mode %v)", o.name, dir, perm)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// socketTail is the longest name the server gives its Unix socket in its
// directory.
const socketTail = "/.s.PGSQL.65535"

// maxSocketPath bounds a Unix socket's path (sun_path of 108 bytes, less
// its terminating NUL).
const maxSocketPath = 107

// makeBase creates the server's directory (mode 0700, owned by o when not
// nil) in os.TempDir(), or else in /tmp: a directory o may reach, and
// whose path leaves room for the socket's.
func makeBase(o *owner) (string, error) {
	var errs []error
	for _, parent := range []string{os.TempDir(), "/tmp"} {
		if o != nil {
			if err := o.canSearch(parent); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		dir, err := os.MkdirTemp(parent, "pgtest-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(dir)+len(socketTail) > maxSocketPath {
			os.Remove(dir)
			errs = append(errs, fmt.Errorf("%s: too long a path for a Unix socket in it", dir))
			continue
		}
		if o != nil {
			if err := os.Chown(dir, int(o.uid), int(o.gid)); err != nil {
				os.Remove(dir)
				return "", err
			}
		}
		return dir, nil
	}
	return "", fmt.Errorf("no directory for the server: %v", errors.Join(errs...))
}
