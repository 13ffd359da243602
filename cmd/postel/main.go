// Command postel is the Postel mail server: one binary that serves SMTP,
// IMAP and POP3 and administers accounts, domains, aliases, mailboxes, the
// outbound queue, DKIM keys and the accounts' junk rules.
//
// It holds no protocol logic: it parses the command line, loads the config
// and calls internal packages. The admin commands run through the running
// server's control socket when a server runs on the data directory, else
// on the store directly (call.go); internal/admin implements them once for
// both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
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
	// plain: the command takes neither --config nor --data-dir.
	plain bool
}

// group is the first word of the command's name ("user").
func (c *command) group() string { return strings.Fields(c.name)[0] }

// env is what every command gets: parsed common flags and I/O.
type env struct {
	ctx        context.Context
	configPath string
	dataDir    string // --data-dir: overrides the config's data_dir
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
	flags      *flag.FlagSet
}

// loadConfig loads --config, or the default path, and applies --data-dir.
func (e *env) loadConfig() (*config.Config, error) {
	path := e.configPath
	if path == "" {
		path = config.DefaultPath()
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no config file at %s: give --config FILE (or --data-dir DIR for the data of a server started with serve --dev)", path)
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if e.dataDir != "" {
		cfg.DataDir = e.dataDir
	}
	return cfg, nil
}

// dataDirPath is the data directory the command works on: --data-dir,
// else the config's data_dir, as serve finds it with the same flags.
func (e *env) dataDirPath() (string, error) {
	if e.dataDir != "" {
		return e.dataDir, nil
	}
	cfg, err := e.loadConfig()
	if err != nil {
		return "", err
	}
	return cfg.DataDir, nil
}

var commands []command

func init() {
	commands = []command{
		{name: "serve", args: "[--dev] [--init] [--data-dir DIR]", short: "run the mail server", run: runServe},
		{name: "version", short: "print the version, commit, Go version and build date", run: runVersion, plain: true},
		{name: "init", args: "DOMAIN [--hostname H] [--account ADDRESS] [--password-stdin]", short: "write a config, create the data dir, the domain, its DKIM keys and a first account, and print the DNS records to publish", run: runInit},
		{name: "reload", short: "make the running server read its config, certificates and DKIM keys again (as SIGHUP does)", run: runReload},
		{name: "config check", short: "validate the config, the data dir and the certificate, and print the effective config", run: runConfigCheck},
		{name: "dns check", args: "DOMAIN", short: "ask the resolver for every record the domain needs and say what is missing or wrong", run: runDNSCheck},
		{name: "user add", args: "ADDRESS [--password-stdin] [--quota BYTES]", short: "create an account", run: runUserAdd},
		{name: "user passwd", args: "ADDRESS [--password-stdin]", short: "set an account's password; unlocks it as user unlock does", run: runUserPasswd},
		{name: "user unlock", args: "ADDRESS", short: "forget the failed logins against an account, ending the lockouts they caused", run: runUserUnlock},
		{name: "user quota", args: "ADDRESS BYTES", short: "set an account's storage quota (0: none)", run: runUserQuota},
		{name: "user disable", args: "ADDRESS", short: "refuse logins and mail for an account (its mail stays); ends its sessions", run: runUserDisable},
		{name: "user enable", args: "ADDRESS", short: "undo user disable", run: runUserEnable},
		{name: "user del", args: "ADDRESS", short: "delete an account and all its mail; ends its sessions", run: runUserDel},
		{name: "user list", args: "[--json]", short: "list accounts", run: runUserList},
		{name: "mailbox list", args: "ADDRESS [--json]", short: "list an account's mailboxes with their counts", run: runMailboxList},
		{name: "mailbox create", args: "ADDRESS NAME", short: "create a mailbox (\"/\" separates levels)", run: runMailboxCreate},
		{name: "mailbox delete", args: "ADDRESS NAME [--force]", short: "delete a mailbox and its messages (special-use ones need --force)", run: runMailboxDelete},
		{name: "mailbox acl", args: "ADDRESS NAME [--json]", short: "list who a mailbox is shared with and their rights (the owner first)", run: runMailboxACL},
		{name: "mailbox share", args: "ADDRESS NAME GRANTEE RIGHTS", short: "give GRANTEE (an account, or anyone) RIGHTS (lrswipkxtea) on a mailbox, as IMAP SETACL", run: runMailboxShare},
		{name: "mailbox unshare", args: "ADDRESS NAME GRANTEE", short: "take every right of GRANTEE on a mailbox away", run: runMailboxUnshare},
		{name: "domain add", args: "DOMAIN", short: "add a local domain", run: runDomainAdd},
		{name: "domain del", args: "DOMAIN", short: "delete a local domain (it must have no accounts)", run: runDomainDel},
		{name: "domain list", args: "[--json]", short: "list local domains", run: runDomainList},
		{name: "alias add", args: "ADDRESS TARGET...", short: "make ADDRESS deliver to TARGETs (@domain: catch-all)", run: runAliasAdd},
		{name: "alias del", args: "ADDRESS [TARGET]", short: "remove one target, or the whole alias", run: runAliasDel},
		{name: "alias list", args: "[--json]", short: "list aliases", run: runAliasList},
		{name: "dkim gen", args: "DOMAIN", short: "make the domain's DKIM keys (Ed25519 and RSA-2048) and print the DNS records to publish", run: runDKIMGen},
		{name: "dkim show", args: "DOMAIN", short: "print the DNS records of the domain's DKIM keys", run: runDKIMShow},
		{name: "queue list", args: "[--json]", short: "list the outbound queue", run: runQueueList},
		{name: "queue show", args: "ID [--json]", short: "show a queued message: recipients, attempts, last replies", run: runQueueShow},
		{name: "queue retry", args: "ID", short: "try a queued message again now", run: runQueueRetry},
		{name: "queue kick", short: "make the running server try every due message now", run: runQueueKick},
		{name: "queue drop", args: "ID", short: "remove a message from the queue without a bounce", run: runQueueDrop},
		{name: "trace", args: "ACCOUNT|IP|NETWORK...", short: "show what clients and the running server say in matching sessions, passwords and messages left out, until Ctrl-C", run: runTrace},
		{name: "junk allow", args: "ACCOUNT PATTERN", short: "keep authenticated mail from an address or domain (with subdomains) out of Junk", run: runJunkAllow},
		{name: "junk block", args: "ACCOUNT PATTERN", short: "put mail from an address or domain (with subdomains) in Junk", run: runJunkBlock},
		{name: "junk unallow", args: "ACCOUNT PATTERN", short: "remove an allow rule", run: runJunkUnallow},
		{name: "junk unblock", args: "ACCOUNT PATTERN", short: "remove a block rule", run: runJunkUnblock},
		{name: "junk list", args: "ACCOUNT [--json]", short: "list an account's junk rules and the senders its user moved into or out of Junk", run: runJunkList},
		{name: "junk forget", args: "ACCOUNT SENDER", short: "forget what the user's moves taught about a sender", run: runJunkForget},
		{name: "store copy", args: "--to DSN [--force]", short: "copy the store (SQLite) into a PostgreSQL database with UIDs, MODSEQs and queue IDs kept, and verify; the server must be stopped", run: runStoreCopy},
	}
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// isHelp tells an argument asking for help.
func isHelp(a string) bool { return a == "help" || a == "--help" || a == "-help" || a == "-h" }

// run dispatches args to a command and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		usage(stdout, "")
		return 0
	case args[0] == "--version" || args[0] == "-version":
		args = []string{"version"}
	case isHelp(args[0]):
		// postel help, postel help user
		if len(args) > 1 && isGroup(args[1]) {
			usage(stdout, args[1])
		} else {
			usage(stdout, "")
		}
		return 0
	}
	cmd, rest := findCommand(args)
	if cmd == nil {
		group := ""
		if isGroup(args[0]) {
			group = args[0]
		}
		switch {
		case group != "" && len(args) > 1 && isHelp(args[1]):
			usage(stdout, group) // postel user --help
			return 0
		case group != "" && len(args) == 1:
			fmt.Fprintf(stderr, "postel %s: which one?\n\n", group)
		default:
			fmt.Fprintf(stderr, "postel: unknown command %q\n\n", strings.Join(args, " "))
		}
		usage(stderr, group)
		return 2
	}
	fs := flag.NewFlagSet("postel "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, flags: fs}
	if !cmd.plain {
		fs.StringVar(&e.configPath, "config", "", "config `FILE` (default ./postel.toml when present, else /etc/postel/postel.toml)")
		fs.StringVar(&e.dataDir, "data-dir", "", "data `DIR`, instead of the config's data_dir (serve --dev: default ./data)")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: postel %s %s\n\n%s.\n", cmd.name, cmd.args, upperFirst(cmd.short))
		if cmd.group() != "serve" && !cmd.plain && cmd.name != "config check" && cmd.group() != "store" {
			fmt.Fprintf(stderr, "\nWhen a server runs on the data directory, the command runs in it, through its\ncontrol socket (DIR/control.sock), and takes effect in open sessions at once.\n")
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
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

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
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

// isGroup tells whether name is the first word of commands with
// subcommands ("user").
func isGroup(name string) bool {
	for i := range commands {
		if c := &commands[i]; c.group() == name && c.name != name {
			return true
		}
	}
	return false
}

// usage lists the commands, or those of one group.
func usage(w io.Writer, group string) {
	if group != "" {
		fmt.Fprintf(w, "usage: postel %s SUBCOMMAND [ARGS] [--config FILE] [--data-dir DIR]\n\nSubcommands:\n", group)
	} else {
		fmt.Fprintln(w, "usage: postel COMMAND [ARGS] [--config FILE] [--data-dir DIR]")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Commands:")
	}
	for _, c := range commands {
		if group == "" || c.group() == group {
			fmt.Fprintf(w, "  %-15s %-44s %s\n", c.name, c.args, c.short)
		}
	}
	fmt.Fprintln(w)
	if group != "" {
		fmt.Fprintf(w, "\"postel %s SUBCOMMAND --help\" tells more about one.\n", group)
	} else {
		fmt.Fprintln(w, "Every command takes --help; \"postel GROUP --help\" lists a group (postel user --help).")
	}
	fmt.Fprintln(w, "Admin commands find the data as serve does: --data-dir DIR, else the config's data_dir.")
	fmt.Fprintln(w, "When a server runs there, they run in it (its control socket) and reach open sessions at once.")
}
