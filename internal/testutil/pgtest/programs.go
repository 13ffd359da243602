package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// binEnv names the directory of the PostgreSQL programs to use, before any
// other place is looked at.
const binEnv = "POSTEL_PG_BIN"

// debianRoot holds Debian's PostgreSQL installations, one directory per
// major version (/usr/lib/postgresql/15/bin/initdb).
const debianRoot = "/usr/lib/postgresql"

// programs are the paths of the PostgreSQL programs a Server runs. The
// postgres binary itself is not among them: pg_ctl and initdb find it
// beside themselves (following symlinks), but it must be there.
type programs struct {
	initdb, pgCtl, psql string
}

// serverPrograms are what a directory must hold to run a server.
var serverPrograms = []string{"initdb", "pg_ctl", "postgres"}

// findPrograms finds the PostgreSQL programs: in $POSTEL_PG_BIN when set
// (then nowhere else), else in the newest root/*/bin (Debian's layout,
// versions compared as numbers), else on PATH. psql is looked for beside
// the server programs, then on PATH. A missing installation is an
// *unavailableError; a $POSTEL_PG_BIN without them is a plain error (a
// mistake to fix, never a reason to skip).
func findPrograms(root string) (programs, error) {
	if dir := os.Getenv(binEnv); dir != "" {
		if missing := missingIn(dir, append(serverPrograms, "psql")); len(missing) > 0 {
			return programs{}, fmt.Errorf("%s=%s lacks %s", binEnv, dir, strings.Join(missing, ", "))
		}
		return inDir(dir), nil
	}
	if dir := newestDebian(root); dir != "" {
		p := inDir(dir)
		if !executable(p.psql) {
			p.psql = ""
		}
		return withPsql(p)
	}
	var p programs
	var missing []string
	for _, name := range serverPrograms {
		path, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		switch name {
		case "initdb":
			p.initdb = path
		case "pg_ctl":
			p.pgCtl = path
		}
	}
	if len(missing) > 0 {
		return programs{}, &unavailableError{fmt.Sprintf(
			"PostgreSQL server programs not found (%s missing; looked in $%s, %s/*/bin and PATH)",
			strings.Join(missing, ", "), binEnv, root)}
	}
	p.psql = filepath.Join(filepath.Dir(p.initdb), "psql")
	if !executable(p.psql) {
		p.psql = ""
	}
	return withPsql(p)
}

// withPsql completes p with psql from PATH when it has none.
func withPsql(p programs) (programs, error) {
	if p.psql != "" {
		return p, nil
	}
	path, err := exec.LookPath("psql")
	if err != nil {
		return programs{}, &unavailableError{"psql not found beside " + p.initdb + " nor on PATH (Debian: postgresql-client)"}
	}
	p.psql = path
	return p, nil
}

// inDir returns the programs in dir.
func inDir(dir string) programs {
	return programs{
		initdb: filepath.Join(dir, "initdb"),
		pgCtl:  filepath.Join(dir, "pg_ctl"),
		psql:   filepath.Join(dir, "psql"),
	}
}

// missingIn returns those of names that dir lacks as executables.
func missingIn(dir string, names []string) []string {
	var missing []string
	for _, name := range names {
		if !executable(filepath.Join(dir, name)) {
			missing = append(missing, name)
		}
	}
	return missing
}

// executable reports whether path is a file someone may execute.
func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// newestDebian returns root/V/bin for the highest version V whose bin
// holds the server programs, or "" when none does. Versions compare as
// numbers, part by part: 9.6 < 15 < 100.
func newestDebian(root string) string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	var best []int
	bestDir := ""
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok || (best != nil && slices.Compare(v, best) <= 0) {
			continue
		}
		dir := filepath.Join(root, e.Name(), "bin")
		if len(missingIn(dir, serverPrograms)) == 0 {
			best, bestDir = v, dir
		}
	}
	return bestDir
}

// parseVersion parses a version of dot-separated numbers (15, 9.6).
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}
