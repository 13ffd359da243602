package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"postel/internal/auth"
	"postel/internal/store"
	"postel/internal/store/sqlite"
)

// openStore opens the store of the config for an admin command. It works
// beside a running server: SQLite's locking keeps concurrent writes safe,
// and only the server cleans up after crashes.
func (e *env) openStore() (*sqlite.Store, error) {
	cfg, err := e.loadConfig()
	if err != nil {
		return nil, err
	}
	return sqlite.Open(e.ctx, cfg.DataDir, sqlite.Options{})
}

// withStore parses args and runs fn with an open store.
func (e *env) withStore(args []string, min, max int, fn func(st *sqlite.Store, pos []string) error) error {
	pos, err := e.parse(args, min, max)
	if err != nil {
		return err
	}
	st, err := e.openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st, pos)
}

// readPassword reads a new password: the first line of stdin with
// --password-stdin, else twice from the terminal without echo. Passwords
// never come from argv, where other users could see them.
func (e *env) readPassword(fromStdin bool) (string, error) {
	var pw string
	if fromStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("reading password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	} else {
		f, ok := e.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", errors.New("stdin is not a terminal: use --password-stdin")
		}
		var err error
		if pw, err = prompt(f, e.stderr, "Password: "); err != nil {
			return "", err
		}
		again, err := prompt(f, e.stderr, "Again: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the passwords differ")
		}
	}
	if len(pw) < 8 {
		return "", errors.New("password too short: use at least 8 characters")
	}
	return pw, nil
}

func prompt(f *os.File, w interface{ Write([]byte) (int, error) }, text string) (string, error) {
	fmt.Fprint(w, text)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w)
	return string(b), err
}

func runUserAdd(e *env, args []string) error {
	stdinPW := e.flags.Bool("password-stdin", false, "read the password from the first line of standard input")
	quota := e.flags.Int64("quota", 0, "storage quota in `BYTES` (0: none)")
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		pw, err := e.readPassword(*stdinPW)
		if err != nil {
			return err
		}
		cred, err := auth.NewCredentials(pw)
		if err != nil {
			return err
		}
		a, err := st.CreateAccount(e.ctx, pos[0], cred)
		if err != nil {
			return err
		}
		if *quota > 0 {
			if err := st.SetQuota(e.ctx, a.Address, *quota); err != nil {
				return err
			}
		}
		fmt.Fprintf(e.stdout, "created %s\n", a.Address)
		return nil
	})
}

func runUserPasswd(e *env, args []string) error {
	stdinPW := e.flags.Bool("password-stdin", false, "read the password from the first line of standard input")
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		pw, err := e.readPassword(*stdinPW)
		if err != nil {
			return err
		}
		cred, err := auth.NewCredentials(pw)
		if err != nil {
			return err
		}
		if err := st.SetCredentials(e.ctx, pos[0], cred); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "password set for %s\n", strings.ToLower(pos[0]))
		return nil
	})
}

// runUserUnlock moves the account's AuthEpoch on (store.AuthEpochs): a
// running server, in another process, forgets the account's failed logins
// and the failures of client addresses against it when it next loads the
// account.
func runUserUnlock(e *env, args []string) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		var ae store.AuthEpochs = st
		if _, err := ae.BumpAuthEpoch(e.ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "unlocked %s\n", strings.ToLower(pos[0]))
		return nil
	})
}

func runUserQuota(e *env, args []string) error {
	return e.withStore(args, 2, 2, func(st *sqlite.Store, pos []string) error {
		n, err := strconv.ParseInt(pos[1], 10, 64)
		if err != nil || n < 0 {
			return usageError{fmt.Sprintf("bad quota %q: want a number of bytes", pos[1])}
		}
		return st.SetQuota(e.ctx, pos[0], n)
	})
}

func runUserDisable(e *env, args []string) error { return setDisabled(e, args, true) }
func runUserEnable(e *env, args []string) error  { return setDisabled(e, args, false) }

func setDisabled(e *env, args []string, on bool) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		return st.SetDisabled(e.ctx, pos[0], on)
	})
}

func runUserDel(e *env, args []string) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		if err := st.DeleteAccount(e.ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "deleted %s\n", strings.ToLower(pos[0]))
		return nil
	})
}

func runUserList(e *env, args []string) error {
	return e.withStore(args, 0, 0, func(st *sqlite.Store, _ []string) error {
		all, err := st.ListAccounts(e.ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tQUOTA\tUSED\tSTATE\tCREATED")
		for _, a := range all {
			q := "none"
			if a.QuotaBytes > 0 {
				q = strconv.FormatInt(a.QuotaBytes, 10)
			}
			state := "enabled"
			if a.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", a.Address, q, a.UsedBytes, state, a.Created.UTC().Format("2006-01-02"))
		}
		return tw.Flush()
	})
}

func runDomainAdd(e *env, args []string) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		return st.AddDomain(e.ctx, pos[0])
	})
}

func runDomainDel(e *env, args []string) error {
	return e.withStore(args, 1, 1, func(st *sqlite.Store, pos []string) error {
		return st.DeleteDomain(e.ctx, pos[0])
	})
}

func runDomainList(e *env, args []string) error {
	return e.withStore(args, 0, 0, func(st *sqlite.Store, _ []string) error {
		all, err := st.ListDomains(e.ctx)
		if err != nil {
			return err
		}
		for _, d := range all {
			fmt.Fprintln(e.stdout, d.Name)
		}
		return nil
	})
}

func runAliasAdd(e *env, args []string) error {
	return e.withStore(args, 2, -1, func(st *sqlite.Store, pos []string) error {
		for _, t := range pos[1:] {
			if err := st.AddAlias(e.ctx, pos[0], t); err != nil && !errors.Is(err, store.ErrExists) {
				return err
			}
		}
		return nil
	})
}

func runAliasDel(e *env, args []string) error {
	return e.withStore(args, 1, 2, func(st *sqlite.Store, pos []string) error {
		target := ""
		if len(pos) == 2 {
			target = pos[1]
		}
		return st.DeleteAlias(e.ctx, pos[0], target)
	})
}

func runAliasList(e *env, args []string) error {
	return e.withStore(args, 0, 0, func(st *sqlite.Store, _ []string) error {
		all, err := st.ListAliases(e.ctx)
		if err != nil {
			return err
		}
		for _, a := range all {
			fmt.Fprintf(e.stdout, "%s -> %s\n", a.Address, strings.Join(a.Targets, ", "))
		}
		return nil
	})
}

func runConfigCheck(e *env, args []string) error {
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return err
	}
	return cfg.Encode(e.stdout)
}
