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

	"postel/internal/admin"
	"postel/internal/auth"
)

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

// credentials reads a new password and derives the account's secrets
// here: the password itself never leaves this process.
func (e *env) credentials(fromStdin bool) (admin.Credentials, error) {
	pw, err := e.readPassword(fromStdin)
	if err != nil {
		return admin.Credentials{}, err
	}
	cred, err := auth.NewCredentials(pw)
	if err != nil {
		return admin.Credentials{}, err
	}
	return admin.Credentials{PasswordHash: cred.PasswordHash, SCRAMSHA256: cred.SCRAMSHA256}, nil
}

// jsonFlag adds --json to a list command.
func (e *env) jsonFlag() *bool {
	return e.flags.Bool("json", false, "print JSON, for scripts")
}

func runUserAdd(e *env, args []string) error {
	stdinPW := e.flags.Bool("password-stdin", false, "read the password from the first line of standard input")
	quota := e.flags.Int64("quota", 0, "storage quota in `BYTES` (0: none)")
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	if *quota < 0 {
		return usageError{fmt.Sprintf("bad quota %d: want a number of bytes", *quota)}
	}
	cred, err := e.credentials(*stdinPW)
	if err != nil {
		return err
	}
	var a admin.Account
	if err := e.call("user add", admin.NewAccountArgs{Address: pos[0], Credentials: cred, Quota: *quota}, &a); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s\n", a.Address)
	return nil
}

func runUserPasswd(e *env, args []string) error {
	stdinPW := e.flags.Bool("password-stdin", false, "read the password from the first line of standard input")
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cred, err := e.credentials(*stdinPW)
	if err != nil {
		return err
	}
	var a admin.Account
	if err := e.call("user passwd", admin.PasswordArgs{Address: pos[0], Credentials: cred}, &a); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "password set for %s\n", a.Address)
	return nil
}

// runUserUnlock moves the account's AuthEpoch on (admin.Unlock): the
// server forgets the account's failed logins and the failures of client
// addresses against it when it next loads the account.
func runUserUnlock(e *env, args []string) error {
	return e.accountCommand(args, "user unlock", "unlocked %s\n")
}

func runUserDisable(e *env, args []string) error {
	return e.accountCommand(args, "user disable", "disabled %s\n")
}

func runUserEnable(e *env, args []string) error {
	return e.accountCommand(args, "user enable", "enabled %s\n")
}

func runUserDel(e *env, args []string) error {
	return e.accountCommand(args, "user del", "deleted %s\n")
}

// accountCommand runs an admin command on the account named by the one
// argument and prints done with its address.
func (e *env) accountCommand(args []string, name, done string) error {
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var a admin.Account
	if err := e.call(name, admin.AddressArgs{Address: pos[0]}, &a); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, done, a.Address)
	return nil
}

func runUserQuota(e *env, args []string) error {
	pos, err := e.parse(args, 2, 2)
	if err != nil {
		return err
	}
	n, err := strconv.ParseInt(pos[1], 10, 64)
	if err != nil || n < 0 {
		return usageError{fmt.Sprintf("bad quota %q: want a number of bytes", pos[1])}
	}
	var a admin.Account
	if err := e.call("user quota", admin.QuotaArgs{Address: pos[0], Bytes: n}, &a); err != nil {
		return err
	}
	if a.QuotaBytes == 0 {
		fmt.Fprintf(e.stdout, "%s has no quota\n", a.Address)
	} else {
		fmt.Fprintf(e.stdout, "%s: quota %d bytes\n", a.Address, a.QuotaBytes)
	}
	return nil
}

func runUserList(e *env, args []string) error {
	asJSON := e.jsonFlag()
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	var all []admin.Account
	if err := e.call("user list", admin.NoArgs{}, &all); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(all)
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
}

func runDomainAdd(e *env, args []string) error {
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var d admin.Domain
	if err := e.call("domain add", admin.DomainArgs{Domain: pos[0]}, &d); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "added domain %s\n", d.Name)
	return nil
}

func runDomainDel(e *env, args []string) error {
	pos, err := e.parse(args, 1, 1)
	if err != nil {
		return err
	}
	var d admin.Domain
	if err := e.call("domain del", admin.DomainArgs{Domain: pos[0]}, &d); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted domain %s\n", d.Name)
	return nil
}

func runDomainList(e *env, args []string) error {
	asJSON := e.jsonFlag()
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	var all []admin.Domain
	if err := e.call("domain list", admin.NoArgs{}, &all); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(all)
	}
	for _, d := range all {
		fmt.Fprintln(e.stdout, d.Name)
	}
	return nil
}

func runAliasAdd(e *env, args []string) error {
	pos, err := e.parse(args, 2, -1)
	if err != nil {
		return err
	}
	var a admin.Alias
	if err := e.call("alias add", admin.AliasArgs{Address: pos[0], Targets: pos[1:]}, &a); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s -> %s\n", a.Address, strings.Join(a.Targets, ", "))
	return nil
}

func runAliasDel(e *env, args []string) error {
	pos, err := e.parse(args, 1, 2)
	if err != nil {
		return err
	}
	var a admin.Alias
	if err := e.call("alias del", admin.AliasArgs{Address: pos[0], Targets: pos[1:]}, &a); err != nil {
		return err
	}
	if len(a.Targets) == 0 {
		fmt.Fprintf(e.stdout, "deleted alias %s\n", a.Address)
	} else {
		fmt.Fprintf(e.stdout, "%s -> %s\n", a.Address, strings.Join(a.Targets, ", "))
	}
	return nil
}

func runAliasList(e *env, args []string) error {
	asJSON := e.jsonFlag()
	if _, err := e.parse(args, 0, 0); err != nil {
		return err
	}
	var all []admin.Alias
	if err := e.call("alias list", admin.NoArgs{}, &all); err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(all)
	}
	for _, a := range all {
		fmt.Fprintf(e.stdout, "%s -> %s\n", a.Address, strings.Join(a.Targets, ", "))
	}
	return nil
}
