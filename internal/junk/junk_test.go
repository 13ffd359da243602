package junk

import (
	"bufio"
	"context"
	"errors"
	"net/textproto"
	"strings"
	"testing"

	"postel/internal/store"
	"postel/internal/store/sqlite"
	"postel/internal/store/storetest"
)

const policy = "DMARC policy quarantine of example.com"

// world is a real store with alice's rules and reputations, and bob, who
// has rules of his own.
type world struct {
	st         *sqlite.Store
	f          *Filter
	alice, bob store.Account
}

func newWorld(t *testing.T) *world {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{st: st, f: New(st), alice: storetest.Account(t, st, "alice@example.org"), bob: storetest.Account(t, st, "bob@example.org")}
	for _, r := range []struct {
		acct          store.Account
		kind, pattern string
	}{
		{w.alice, store.JunkBlock, "spam.example"},
		{w.alice, store.JunkBlock, "eve@evil.example"},
		{w.alice, store.JunkAllow, "friends.example"},
		{w.alice, store.JunkBlock, "pest@friends.example"},
		{w.alice, store.JunkBlock, "corp.example"},
		{w.alice, store.JunkAllow, "boss@corp.example"},
		{w.alice, store.JunkBlock, "bücher.example"},
		{w.alice, store.JunkBlock, "tld"},
		{w.bob, store.JunkAllow, "spam.example"},
	} {
		if err := st.AddJunkRule(context.Background(), r.acct.ID, r.kind, r.pattern); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// train gives sender marks, in order ('s' spam, 'h' ham).
func (w *world) train(t *testing.T, acct store.Account, sender, marks string) {
	t.Helper()
	for _, m := range marks {
		if err := w.f.Train(context.Background(), acct.ID, sender, m == 's'); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDecide(t *testing.T) {
	w := newWorld(t)
	w.train(t, w.alice, "Spammy@Example.com", "ss")
	w.train(t, w.alice, "carol@example.com", "hh")
	w.train(t, w.alice, "tie-spam@example.com", "hs")
	w.train(t, w.alice, "tie-ham@example.com", "sh")
	w.train(t, w.alice, "mostly@example.com", "shss")
	w.train(t, w.alice, "x@spam.example", "hhh")
	w.train(t, w.alice, "dan@friends.example", "ss")
	w.train(t, w.bob, "ben@example.com", "ssss")

	for _, c := range []struct {
		name string
		acct *store.Account
		s    Signals
		junk bool
		why  string
	}{
		{"nothing to say", &w.alice, Signals{From: "someone@example.com", Authenticated: true}, false, ""},
		{"no From", &w.alice, Signals{}, false, ""},
		{"policy alone", &w.alice, Signals{From: "someone@example.com", PolicyJunk: policy}, true, policy},
		{"policy, no From", &w.alice, Signals{PolicyJunk: policy}, true, policy},
		{"policy, malformed From", &w.alice, Signals{From: "spam.example", PolicyJunk: policy}, true, policy},
		{"blocked domain", &w.alice, Signals{From: "x@spam.example", Authenticated: true}, true, "you blocked spam.example"},
		{"blocked parent domain", &w.alice, Signals{From: "x@mail.spam.example"}, true, "you blocked spam.example"},
		{"not a parent domain", &w.alice, Signals{From: "x@notspam.example"}, false, ""},
		{"blocked top-level domain", &w.alice, Signals{From: "x@anything.tld"}, true, "you blocked tld"},
		{"blocked address", &w.alice, Signals{From: "EVE@Evil.Example", Authenticated: true}, true, "you blocked eve@evil.example"},
		{"same domain, other address", &w.alice, Signals{From: "adam@evil.example"}, false, ""},
		{"blocked U-label domain", &w.alice, Signals{From: "x@xn--bcher-kva.example"}, true, "you blocked xn--bcher-kva.example"},
		{"blocked, From in U-labels", &w.alice, Signals{From: "x@BÜCHER.example"}, true, "you blocked xn--bcher-kva.example"},
		{"allowed, authenticated", &w.alice, Signals{From: "fred@friends.example", Authenticated: true}, false,
			"you allowed friends.example"},
		{"allowed, authenticated, over the policy", &w.alice, Signals{From: "fred@sub.friends.example", Authenticated: true, PolicyJunk: policy}, false,
			"you allowed friends.example (policy said: " + policy + ")"},
		{"allowed, not authenticated", &w.alice, Signals{From: "fred@friends.example"}, false,
			"you allowed friends.example, but this From address was not authenticated"},
		{"allowed, not authenticated, policy", &w.alice, Signals{From: "fred@friends.example", PolicyJunk: policy}, true,
			policy + "; you allowed friends.example, but this From address was not authenticated"},
		{"allowed address beats blocked domain", &w.alice, Signals{From: "boss@corp.example", Authenticated: true}, false,
			"you allowed boss@corp.example"},
		{"allowed address, forged", &w.alice, Signals{From: "boss@corp.example"}, true,
			"you blocked corp.example; you allowed boss@corp.example, but this From address was not authenticated"},
		{"blocked address beats allowed domain", &w.alice, Signals{From: "pest@friends.example", Authenticated: true}, true,
			"you blocked pest@friends.example"},
		{"blocked domain beats ham reputation", &w.alice, Signals{From: "x@spam.example"}, true, "you blocked spam.example"},
		{"allowed domain beats spam reputation", &w.alice, Signals{From: "dan@friends.example", Authenticated: true}, false,
			"you allowed friends.example"},
		{"spam reputation", &w.alice, Signals{From: "spammy@example.com", Authenticated: true}, true,
			"you moved 2 earlier messages from spammy@example.com to Junk"},
		{"spam reputation, policy agrees", &w.alice, Signals{From: "spammy@example.com", PolicyJunk: policy}, true,
			"you moved 2 earlier messages from spammy@example.com to Junk"},
		{"ham reputation over the policy", &w.alice, Signals{From: "carol@example.com", PolicyJunk: policy}, false,
			"you moved 2 earlier messages from carol@example.com out of Junk (policy said: " + policy + ")"},
		{"ham reputation", &w.alice, Signals{From: "carol@example.com"}, false,
			"you moved 2 earlier messages from carol@example.com out of Junk"},
		{"spam reputation, forged allowed From", &w.alice, Signals{From: "dan@friends.example"}, true,
			"you moved 2 earlier messages from dan@friends.example to Junk; you allowed friends.example, but this From address was not authenticated"},
		{"tie, latest spam", &w.alice, Signals{From: "tie-spam@example.com"}, true,
			"you moved 1 earlier message from tie-spam@example.com to Junk and 1 out of Junk, the latest to Junk"},
		{"tie, latest ham", &w.alice, Signals{From: "tie-ham@example.com", PolicyJunk: policy}, false,
			"you moved 1 earlier message from tie-ham@example.com out of Junk and 1 to Junk, the latest out of Junk (policy said: " + policy + ")"},
		{"mostly spam", &w.alice, Signals{From: "mostly@example.com"}, true,
			"you moved 3 earlier messages from mostly@example.com to Junk and 1 out of Junk"},
		// Bob's rules and reputations are his alone.
		{"bob: his allow rule", &w.bob, Signals{From: "x@spam.example", Authenticated: true}, false, "you allowed spam.example"},
		{"bob: alice's block rule", &w.bob, Signals{From: "eve@evil.example", Authenticated: true}, false, ""},
		{"bob: alice's reputation", &w.bob, Signals{From: "carol@example.com", PolicyJunk: policy}, true, policy},
		{"bob: his reputation", &w.bob, Signals{From: "ben@example.com"}, true, "you moved 4 earlier messages from ben@example.com to Junk"},
		{"alice: bob's reputation", &w.alice, Signals{From: "ben@example.com"}, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := w.f.Decide(context.Background(), c.acct.ID, c.s)
			if err != nil {
				t.Fatal(err)
			}
			if d.Junk != c.junk || d.Reason != c.why {
				t.Fatalf("Decide(%+v) = %+v, want junk %v, reason %q", c.s, d, c.junk, c.why)
			}
			h := d.Header()
			if c.why == "" {
				if h != nil {
					t.Fatalf("Header = %q, want none", h)
				}
				return
			}
			verdict := "no"
			if c.junk {
				verdict = "yes"
			}
			if got := readField(t, h); got != verdict+"; "+c.why {
				t.Fatalf("header reads %q, want %q", got, verdict+"; "+c.why)
			}
		})
	}
}

// readField parses h as a header with net/textproto and returns the
// unfolded value of X-Postel-Junk, checking the line lengths.
func readField(t *testing.T, h []byte) string {
	t.Helper()
	for _, line := range strings.SplitAfter(string(h), "\r\n") {
		if len(line) > 1000 {
			t.Fatalf("line of %d octets with its CRLF", len(line))
		}
		if strings.ContainsAny(strings.TrimSuffix(line, "\r\n"), "\r\n") {
			t.Fatalf("bare CR or LF in %q", line)
		}
	}
	if !strings.HasSuffix(string(h), "\r\n") {
		t.Fatalf("header %q lacks its CRLF", h)
	}
	hdr, err := textproto.NewReader(bufio.NewReader(strings.NewReader(string(h) + "\r\n"))).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("header %q does not parse: %v", h, err)
	}
	vs := hdr.Values(HeaderName)
	if len(vs) != 1 || len(hdr) != 1 {
		t.Fatalf("header %q parses as %v", h, hdr)
	}
	return vs[0]
}

func TestTrain(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if err := w.f.Train(ctx, w.alice.ID, "Zed@Bücher.Example", true); err != nil {
		t.Fatal(err)
	}
	r, err := w.st.Reputation(ctx, w.alice.ID, "zed@xn--bcher-kva.example")
	if err != nil || r.Spam != 1 || r.Ham != 0 || r.Last != store.MarkSpam {
		t.Fatalf("reputation after Train = %+v, %v", r, err)
	}
	for _, bad := range []string{"", "no address", "x@", "x@bad domain"} {
		if err := w.f.Train(ctx, w.alice.ID, bad, true); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Train(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := w.f.Train(ctx, w.alice.ID+1000, "zed@example.com", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Train for no account = %v, want ErrNotFound", err)
	}
}

// TestDecideStoreFails: a store that fails makes Decide fail; it does not
// decide on half the facts.
func TestDecideStoreFails(t *testing.T) {
	w := newWorld(t)
	w.st.Close()
	if d, err := w.f.Decide(context.Background(), w.alice.ID, Signals{From: "x@spam.example", PolicyJunk: policy}); err == nil {
		t.Fatalf("Decide on a closed store = %+v, nil", d)
	}
	// Without a From there is nothing to read: the policy decides.
	d, err := w.f.Decide(context.Background(), w.alice.ID, Signals{PolicyJunk: policy})
	if err != nil || !d.Junk || d.Reason != policy {
		t.Fatalf("Decide without From on a closed store = %+v, %v", d, err)
	}
}

func TestHeader(t *testing.T) {
	long := strings.Repeat("word ", 600)      // 3000 bytes: cut
	huge := strings.Repeat("ü", 800) + " end" // one 1600-byte word: split
	for _, c := range []struct {
		name string
		d    Decision
		want string // the unfolded value; "" for no field
	}{
		{"none", Decision{Junk: true}, ""},
		{"short", Decision{Junk: true, Reason: "you blocked example.com"}, "yes; you blocked example.com"},
		{"injection", Decision{Reason: "DMARC of x.example\r\nX-Evil: 1\r\n\r\nbody"}, "no; DMARC of x.example X-Evil: 1 body"},
		{"controls", Decision{Reason: "a\x00b\tc\x7fd\u0085e  \x1b[31mf"}, "no; a b c d e [31mf"},
		{"bidi and invalid UTF-8", Decision{Reason: "moc.elpmaxe\u202e \xff\xfe ok"}, "no; moc.elpmaxe ? ok"},
		{"long", Decision{Junk: true, Reason: long}, "yes; " + strings.TrimSpace(long[:maxValue-3-5])},
		{"huge word", Decision{Junk: true, Reason: huge}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := c.d.Header()
			if c.d.Reason == "" {
				if h != nil {
					t.Fatalf("Header = %q, want nil", h)
				}
				return
			}
			got := readField(t, h)
			for _, line := range strings.Split(strings.TrimSuffix(string(h), "\r\n"), "\r\n") {
				if len(line) > foldAt && !strings.Contains(strings.TrimSpace(line), " ") {
					continue // one long word on its line
				}
				if len(line) > foldAt {
					t.Errorf("line of %d octets could have been folded: %q", len(line), line)
				}
			}
			switch c.name {
			case "long":
				if !strings.HasPrefix(got, c.want) || !strings.HasSuffix(got, "...") || len(got) > maxValue+10 {
					t.Fatalf("long value (%d bytes) reads %q...", len(got), got[:80])
				}
			case "huge word":
				// Split at rune boundaries: the text survives, less the
				// folds.
				if strings.ReplaceAll(got, " ", "") != "yes;"+strings.ReplaceAll(huge, " ", "") {
					t.Fatalf("huge word reads %q", got)
				}
			default:
				if got != c.want {
					t.Fatalf("header %q reads %q, want %q", h, got, c.want)
				}
			}
		})
	}
}
