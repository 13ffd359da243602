package test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestJunkCommands drives postel junk: rules added, listed and removed,
// reputations listed and forgotten, each account's apart from the
// other's, and the mistakes an operator makes.
func TestJunkCommands(t *testing.T) {
	in := newInstance(t, "")
	in.setup()
	in.admin("bob's password\n", "user", "add", "bob@example.org", "--password-stdin")

	if out := in.admin("", "junk", "block", "alice@example.org", "Spam.Example"); out != "alice@example.org: blocked spam.example (its mail goes to Junk)\n" {
		t.Fatalf("junk block printed %q", out)
	}
	in.admin("", "junk", "allow", "Alice@Example.org", "Bob@Friends.Example")
	in.admin("", "junk", "allow", "alice@example.org", "@bücher.example")
	in.admin("", "junk", "block", "bob@example.org", "bob-only.example")
	out := in.admin("", "junk", "list", "alice@example.org")
	for _, re := range []string{
		`(?m)^RULE\s+PATTERN\s+ADDED$`,
		`(?m)^allow\s+bob@friends\.example\s+\d{4}-\d\d-\d\d$`,
		`(?m)^allow\s+xn--bcher-kva\.example\s`,
		`(?m)^block\s+spam\.example\s`,
		`(?m)^no senders moved into or out of Junk$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Fatalf("junk list lacks %s:\n%s", re, out)
		}
	}
	if strings.Contains(out, "bob-only") {
		t.Fatalf("alice's list shows bob's rule:\n%s", out)
	}

	// What the user taught over IMAP (the store, as the server's trainer
	// writes it) shows in the list, and can be forgotten.
	train(t, in, "alice@example.org", "carol@example.com", true, true, false)
	train(t, in, "bob@example.org", "dave@example.com", false)
	out = in.admin("", "junk", "list", "alice@example.org")
	if !regexp.MustCompile(`(?m)^SENDER\s+SPAM\s+HAM\s+LAST\s+UPDATED$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^carol@example\.com\s+2\s+1\s+ham\s+\d{4}-\d\d-\d\d \d\d:\d\d$`).MatchString(out) ||
		strings.Contains(out, "dave@") {
		t.Fatalf("junk list after training:\n%s", out)
	}
	out = in.admin("", "junk", "list", "bob@example.org")
	if !regexp.MustCompile(`(?m)^block\s+bob-only\.example\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^dave@example\.com\s+0\s+1\s+ham\s`).MatchString(out) ||
		strings.Contains(out, "carol@") || strings.Contains(out, "spam.example") {
		t.Fatalf("bob's junk list:\n%s", out)
	}
	if out := in.admin("", "junk", "forget", "alice@example.org", "Carol@Example.COM"); out != "alice@example.org: forgot carol@example.com (2 spam, 1 ham)\n" {
		t.Fatalf("junk forget printed %q", out)
	}
	if out := in.admin("", "junk", "list", "alice@example.org"); strings.Contains(out, "carol@") {
		t.Fatalf("junk list after forget:\n%s", out)
	}

	in.admin("", "junk", "unblock", "alice@example.org", "SPAM.example.")
	in.admin("", "junk", "unallow", "alice@example.org", "bücher.example")
	out = in.admin("", "junk", "list", "alice@example.org")
	if strings.Contains(out, "spam.example") || strings.Contains(out, "bcher") || !strings.Contains(out, "bob@friends.example") {
		t.Fatalf("junk list after removals:\n%s", out)
	}
	// Once unblocked, the pattern may be allowed.
	in.admin("", "junk", "allow", "alice@example.org", "spam.example")

	// Mistakes: exit status 2 for usage, 1 for refusals, with a message
	// that says what is wrong.
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"junk", "block", "alice@example.org"}, 2, "expected 2 arguments"},
		{[]string{"junk", "block", "alice@example.org", "*.example.com"}, 2, `bad pattern "*.example.com"`},
		{[]string{"junk", "allow", "alice@example.org", "user@"}, 2, "bad pattern"},
		{[]string{"junk", "allow", "alice@example.org", "a b.example"}, 2, "bad pattern"},
		{[]string{"junk", "forget", "alice@example.org", "example.com"}, 2, `bad sender "example.com"`},
		{[]string{"junk", "list"}, 2, "usage: postel junk list ACCOUNT"},
		{[]string{"junk", "block", "nobody@example.org", "x.example"}, 1, "no account nobody@example.org"},
		{[]string{"junk", "list", "not an address"}, 1, "no account not an address"},
		{[]string{"junk", "block", "alice@example.org", "Spam.example"}, 1,
			"alice@example.org already has the rule allow spam.example (postel junk unallow alice@example.org spam.example removes it)"},
		{[]string{"junk", "unblock", "alice@example.org", "spam.example"}, 1, "alice@example.org has no rule block spam.example"},
		{[]string{"junk", "unblock", "bob@example.org", "spam.example"}, 1, "bob@example.org has no rule block spam.example"},
		{[]string{"junk", "forget", "alice@example.org", "carol@example.com"}, 1, "alice@example.org has no reputation for carol@example.com"},
		{[]string{"junk", "forget", "bob@example.org", "carol@example.com"}, 1, "bob@example.org has no reputation for carol@example.com"},
	} {
		out, err := in.tryAdmin("", c.args...)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != c.code || !strings.Contains(out, c.says) {
			t.Errorf("postel %v: err %v, want exit %d saying %q\n%s", c.args, err, c.code, c.says, out)
		}
	}
	// Bob's rules and reputation survived alice's mistakes and removals.
	if out := in.admin("", "junk", "list", "bob@example.org"); !strings.Contains(out, "bob-only.example") || !strings.Contains(out, "dave@example.com") {
		t.Fatalf("bob's junk list at the end:\n%s", out)
	}
	for _, args := range [][]string{{"junk", "allow", "--help"}, {"junk", "forget", "--help"}} {
		if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil || !strings.Contains(string(out), "usage: postel junk") {
			t.Errorf("postel %v: %v\n%s", args, err, out)
		}
	}
	if out, err := exec.Command(binary, "help").CombinedOutput(); err != nil || !strings.Contains(string(out), "junk forget") {
		t.Errorf("postel help lacks the junk commands: %v\n%s", err, out)
	}
}

// train gives sender marks (true: spam) in account's reputations, opening
// the store as the admin commands do.
func train(t *testing.T, in *instance, account, sender string, marks ...bool) {
	t.Helper()
	ctx := context.Background()
	st := in.openStore()
	defer st.Close()
	a, err := st.Account(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	for _, spam := range marks {
		if err := st.TrainSender(ctx, a.ID, sender, spam); err != nil {
			t.Fatal(err)
		}
	}
}
