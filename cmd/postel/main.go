// Command postel is the Postel mail server: one binary that serves SMTP,
// IMAP and POP3 and administers accounts, domains, aliases and the
// accounts' junk rules.
//
// It holds no protocol logic: it parses the command line, loads the config
// and calls internal packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"postel/internal/config"
)

// command is one subcommand: a name ("user add"), a usage line and a run
// function that gets the remaining arguments.
type command struct {
	name  string
	args  string
	short string
	run   func(env *env, args []string) error
}

// env is what every command gets: parsed common flags and I/O.
type env struct {
	ctx        context.Context
	configPath string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	flags      *flag.FlagSet
}

// loadConfig loads --config, or the default path.
func (e *env) loadConfig() (*config.Config, error) {
	path := e.configPath
	if path == "" {
		path = config.DefaultPath()
	}
	return config.Load(path)
}

var commands []command

func init() {
	commands = []command{
		{"serve", "[--dev] [--data-dir DIR]", "run the mail server", runServe},
		{"config check", "", "validate the config and print the effective one", runConfigCheck},
		{"user add", "ADDRESS [--password-stdin] [--quota BYTES]", "create an account", runUserAdd},
		{"user passwd", "ADDRESS [--password-stdin]", "set an account's password; unlocks it as user unlock does", runUserPasswd},
		{"user unlock", "ADDRESS", "forget the failed logins against an account, ending the lockouts they caused", runUserUnlock},
		{"user quota", "ADDRESS BYTES", "set an account's storage quota (0: none)", runUserQuota},
		{"user disable", "ADDRESS", "refuse logins and mail for an account (its mail stays)", runUserDisable},
		{"user enable", "ADDRESS", "undo user disable", runUserEnable},
		{"user del", "ADDRESS", "delete an account and all its mail", runUserDel},
		{"user list", "", "list accounts", runUserList},
		{"mailbox list", "ADDRESS", "list an account's mailboxes with their counts", runMailboxList},
		{"mailbox create", "ADDRESS NAME", "create a mailbox (\"/\" separates levels)", runMailboxCreate},
		{"mailbox delete", "ADDRESS NAME [--force]", "delete a mailbox and its messages (special-use ones need --force)", runMailboxDelete},
		{"domain add", "DOMAIN", "add a local domain", runDomainAdd},
		{"domain del", "DOMAIN", "delete a local domain (it must have no accounts)", runDomainDel},
		{"domain list", "", "list local domains", runDomainList},
		{"alias add", "ADDRESS TARGET...", "make ADDRESS deliver to TARGETs (@domain: catch-all)", runAliasAdd},
		{"alias del", "ADDRESS [TARGET]", "remove one target, or the whole alias", runAliasDel},
		{"alias list", "", "list aliases", runAliasList},
		{"dkim gen", "DOMAIN", "make the domain's DKIM keys (Ed25519 and RSA-2048) and print the DNS records to publish", runDKIMGen},
		{"dkim show", "DOMAIN", "print the DNS records of the domain's DKIM keys", runDKIMShow},
		{"queue list", "", "list the outbound queue", runQueueList},
		{"queue show", "ID", "show a queued message: recipients, attempts, last replies", runQueueShow},
		{"queue retry", "ID", "try a queued message again now", runQueueRetry},
		{"queue drop", "ID", "remove a message from the queue without a bounce", runQueueDrop},
		{"junk allow", "ACCOUNT PATTERN", "keep authenticated mail from an address or domain (with subdomains) out of Junk", runJunkAllow},
		{"junk block", "ACCOUNT PATTERN", "put mail from an address or domain (with subdomains) in Junk", runJunkBlock},
		{"junk unallow", "ACCOUNT PATTERN", "remove an allow rule", runJunkUnallow},
		{"junk unblock", "ACCOUNT PATTERN", "remove a block rule", runJunkUnblock},
		{"junk list", "ACCOUNT", "list an account's junk rules and the senders its user moved into or out of Junk", runJunkList},
		{"junk forget", "ACCOUNT SENDER", "forget what the user's moves taught about a sender", runJunkForget},
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches args to a command and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd, rest := findCommand(args)
	if cmd == nil {
		if len(args) > 0 && args[0] != "help" && args[0] != "--help" && args[0] != "-h" {
			fmt.Fprintf(stderr, "postel: unknown command %q\n\n", strings.Join(args, " "))
			usage(stderr)
			return 2
		}
		usage(stdout)
		return 0
	}
	fs := flag.NewFlagSet("postel "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, flags: fs}
	fs.StringVar(&e.configPath, "config", "", "config `FILE` (default ./postel.toml when present, else /etc/postel/postel.toml)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: postel %s %s\n\n%s.\n\nFlags:\n", cmd.name, cmd.args, cmd.short)
		fs.PrintDefaults()
	}
	if err := cmd.run(e, rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "postel %s: %v\n", cmd.name, err)
			fs.Usage()
			return 2
		}
		fmt.Fprintf(stderr, "postel %s: %v\n", cmd.name, err)
		return 1
	}
	return 0
}

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// parse parses flags, which may come before or after the positional
// arguments, and checks the count of those.
func (e *env) parse(args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := e.flags.Parse(args); err != nil {
			return nil, err
		}
		args = e.flags.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		return nil, usageError{fmt.Sprintf("expected %s arguments, got %d", countText(min, max), len(pos))}
	}
	return pos, nil
}

func countText(min, max int) string {
	switch {
	case max < 0:
		return fmt.Sprintf("at least %d", min)
	case min == max:
		return fmt.Sprint(min)
	}
	return fmt.Sprintf("%d to %d", min, max)
}

// findCommand matches the longest command name at the start of args.
func findCommand(args []string) (*command, []string) {
	for n := 2; n >= 1; n-- {
		if len(args) < n {
			continue
		}
		name := strings.Join(args[:n], " ")
		for i := range commands {
			if commands[i].name == name {
				return &commands[i], args[n:]
			}
		}
	}
	return nil, nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: postel COMMAND [ARGS] [--config FILE]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cs := append([]command(nil), commands...)
	sort.SliceStable(cs, func(i, j int) bool { return strings.Fields(cs[i].name)[0] < strings.Fields(cs[j].name)[0] })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-14s %-44s %s\n", c.name, c.args, c.short)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes --config FILE and --help.")
}
