package imapserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"postel/internal/testutil"
)

// TestMultiAppendAtomic checks that a MULTIAPPEND stores all its messages
// or none (RFC 3502 §6.3.11), whatever refuses the second message.
func TestMultiAppendAtomic(t *testing.T) {
	h := newHarness(t)
	if err := h.st.SetQuota(context.Background(), "alice@example.org", 100); err != nil {
		t.Fatal(err)
	}
	r := h.login()
	one := testutil.CRLF("Subject: one\n\nfirst\n")
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"bad flag", []string{fmt.Sprintf("a APPEND INBOX {%d+}", len(one)), one + ` (\Nonsense) {5+}`, "hello"}, `a BAD Invalid flag`},
		{"too big", []string{fmt.Sprintf("a APPEND INBOX {%d+}", len(one)), one + " {2000000}"}, "a NO [TOOBIG] "},
		{"over quota", []string{fmt.Sprintf("a APPEND INBOX {%d+}", len(one)), one + " {90}"}, "a NO [OVERQUOTA] "},
		{"bad syntax", []string{fmt.Sprintf("a APPEND INBOX {%d+}", len(one)), one + " (\\Seen"}, "a BAD "},
	}
	for _, tc := range tests {
		for _, l := range tc.lines {
			r.send(l)
		}
		got := r.until("a ")
		if last := got[len(got)-1]; !strings.HasPrefix(last, tc.want) {
			t.Errorf("%s: %q, want %q...", tc.name, last, tc.want)
		}
		if n := len(h.messages(h.alice, "INBOX")); n != 0 {
			t.Fatalf("%s: %d messages stored", tc.name, n)
		}
	}
	// The session goes on, and no spool was left behind.
	if got := r.cmd("NOOP"); got[len(got)-1] != "T OK NOOP completed" {
		t.Fatalf("NOOP after the refusals: %q", got)
	}
	left, _ := os.ReadDir(filepath.Join(h.dir, "tmp"))
	if len(left) != 0 {
		t.Errorf("%d spools left in tmp", len(left))
	}
}

// client is a raw session that keeps its own model of the mailbox from
// the responses it gets (EXISTS, EXPUNGE, VANISHED, FETCH with UID), the
// way a client must, so that any wrong sequence number shows.
type client struct {
	*raw
	t    *testing.T
	name string
	uids []uint32 // seq n is uids[n-1]; 0 while unknown
	qres bool
}

var (
	reExists  = regexp.MustCompile(`^\* (\d+) EXISTS$`)
	reExpunge = regexp.MustCompile(`^\* (\d+) EXPUNGE$`)
	reVanish  = regexp.MustCompile(`^\* VANISHED ([0-9:,]+)$`)
	reFetch   = regexp.MustCompile(`^\* (\d+) FETCH \(.*UID (\d+)`)
)

// do runs a command and applies its untagged responses to the model.
func (c *client) do(cmd string) []string {
	c.t.Helper()
	if strings.HasPrefix(cmd, "SELECT") || strings.HasPrefix(cmd, "EXAMINE") || cmd == "UNSELECT" || cmd == "CLOSE" {
		c.uids = nil // a new mailbox view
	}
	lines := c.cmd(cmd)
	for _, l := range lines {
		switch {
		case reExists.MatchString(l):
			n, _ := strconv.Atoi(reExists.FindStringSubmatch(l)[1])
			if n < len(c.uids) {
				c.t.Fatalf("%s: EXISTS %d below %d messages (%s)", c.name, n, len(c.uids), cmd)
			}
			for len(c.uids) < n {
				c.uids = append(c.uids, 0)
			}
		case reExpunge.MatchString(l):
			if strings.HasPrefix(cmd, "FETCH") || strings.HasPrefix(cmd, "STORE") || strings.HasPrefix(cmd, "SEARCH") {
				c.t.Fatalf("%s: EXPUNGE during %s (RFC 9051 §7.5.1)", c.name, cmd)
			}
			n, _ := strconv.Atoi(reExpunge.FindStringSubmatch(l)[1])
			if n < 1 || n > len(c.uids) {
				c.t.Fatalf("%s: EXPUNGE %d of %d messages", c.name, n, len(c.uids))
			}
			c.uids = slices.Delete(c.uids, n-1, n)
		case reVanish.MatchString(l):
			for _, rg := range strings.Split(reVanish.FindStringSubmatch(l)[1], ",") {
				lo, hi, _ := strings.Cut(rg, ":")
				a, _ := strconv.Atoi(lo)
				b := a
				if hi != "" {
					b, _ = strconv.Atoi(hi)
				}
				c.uids = slices.DeleteFunc(c.uids, func(u uint32) bool { return int(u) >= a && int(u) <= b })
			}
		case reFetch.MatchString(l):
			m := reFetch.FindStringSubmatch(l)
			n, _ := strconv.Atoi(m[1])
			u, _ := strconv.Atoi(m[2])
			if n < 1 || n > len(c.uids) {
				c.t.Fatalf("%s: FETCH of message %d of %d (%s)", c.name, n, len(c.uids), cmd)
			}
			if c.uids[n-1] != 0 && c.uids[n-1] != uint32(u) {
				c.t.Fatalf("%s: message %d is UID %d, was UID %d (%s)", c.name, n, u, c.uids[n-1], cmd)
			}
			c.uids[n-1] = uint32(u)
		}
	}
	// Learn the UIDs of new messages at once, as a client must to make
	// sense of VANISHED.
	if k := slices.Index(c.uids, 0); k >= 0 && !strings.HasPrefix(cmd, "FETCH") {
		c.do(fmt.Sprintf("FETCH %d:* (UID)", k+1))
	}
	return lines
}

// TestTwoSessions runs two sessions on one mailbox with random interleaved
// STORE, EXPUNGE, COPY, MOVE, FETCH, SEARCH and deliveries, and checks
// after each step that every client's numbering agrees with the responses
// it got, and at the end that both agree with the store.
func TestTwoSessions(t *testing.T) {
	for run := range 6 {
		qresync, seed := run%2 == 1, uint64(run/2)
		t.Run(fmt.Sprintf("qresync=%v/seed=%d", qresync, seed), func(t *testing.T) {
			h := newHarness(t)
			for i := 0; i < 20; i++ {
				h.put(h.alice, "INBOX", testMsg)
			}
			var cs []*client
			for _, name := range []string{"A", "B"} {
				c := &client{raw: h.login(), t: t, name: name, qres: qresync}
				if qresync {
					c.do("ENABLE QRESYNC")
				}
				c.do("SELECT INBOX")
				c.do("UID FETCH 1:* (UID)")
				cs = append(cs, c)
			}
			rng := rand.New(rand.NewPCG(seed, 1))
			for step := 0; step < 150; step++ {
				c := cs[rng.IntN(2)]
				n := len(c.uids)
				pick := func() int { return 1 + rng.IntN(max(n, 1)) }
				var cmd string
				switch k := rng.IntN(10); {
				case n == 0 || k == 0:
					h.put(h.alice, "INBOX", testMsg)
					cmd = "NOOP"
				case k == 1:
					cmd = fmt.Sprintf("STORE %d +FLAGS (\\Deleted)", pick())
				case k == 2:
					cmd = "EXPUNGE"
				case k == 3:
					cmd = fmt.Sprintf("UID STORE %d:* -FLAGS (\\Deleted)", max(c.uids[pick()-1], 1))
				case k == 4:
					cmd = fmt.Sprintf("MOVE %d Trash", pick())
				case k == 5:
					cmd = fmt.Sprintf("FETCH %d:* (UID FLAGS)", pick())
				case k == 6:
					cmd = "SEARCH DELETED"
				case k == 7:
					cmd = fmt.Sprintf("STORE %d FLAGS (\\Seen $X)", pick())
				case k == 8:
					cmd = fmt.Sprintf("COPY %d INBOX", pick())
				default:
					cmd = "UID FETCH 1:* (FLAGS)"
				}
				lines := c.do(cmd)
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, "T OK") && !strings.Contains(last, "EXPUNGEISSUED") {
					t.Fatalf("step %d %s %s: %s", step, c.name, cmd, last)
				}
			}
			var want []uint32
			flags := map[uint32]string{}
			for _, m := range h.messages(h.alice, "INBOX") {
				want = append(want, m.UID)
				flags[m.UID] = "(" + strings.Join(m.Flags, " ") + ")"
			}
			// Each message is \Recent in exactly one of the sessions: the
			// first told of it (RFC 3501 §2.3.2).
			recentIn := map[uint32]string{}
			for _, c := range cs {
				c.do("NOOP")
				lines := c.do("FETCH 1:* (UID FLAGS)")
				if !slices.Equal(c.uids, want) {
					t.Fatalf("%s sees UIDs %v, store has %v", c.name, c.uids, want)
				}
				for _, l := range lines[:len(lines)-1] {
					m := regexp.MustCompile(`UID (\d+) FLAGS (\([^)]*\))`).FindStringSubmatch(l)
					if m == nil {
						continue
					}
					u, _ := strconv.Atoi(m[1])
					got := strings.NewReplacer(` \Recent`, "", `\Recent `, "", `\Recent`, "").Replace(m[2])
					if got != m[2] {
						if other, ok := recentIn[uint32(u)]; ok {
							t.Errorf("UID %d is \\Recent in %s and %s", u, other, c.name)
						}
						recentIn[uint32(u)] = c.name
					}
					if flags[uint32(u)] != got {
						t.Errorf("%s: UID %d flags %s, store %s", c.name, u, m[2], flags[uint32(u)])
					}
				}
			}
			for _, u := range want {
				if _, ok := recentIn[u]; !ok {
					t.Errorf("UID %d is \\Recent in no session", u)
				}
			}
		})
	}
}

// TestQResyncAfterOtherSession: a client that knew the mailbox at some
// MODSEQ resynchronizes after another session changed flags, expunged and
// appended (RFC 7162 §3.2.5), and ends up agreeing with the store.
func TestQResyncAfterOtherSession(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 10; i++ {
		h.put(h.alice, "INBOX", testMsg)
	}
	a := &client{raw: h.login(), t: t, name: "A", qres: true}
	a.do("ENABLE QRESYNC")
	lines := a.do("SELECT INBOX")
	var uv, hms string
	for _, l := range lines {
		if m := regexp.MustCompile(`\[UIDVALIDITY (\d+)\]`).FindStringSubmatch(l); m != nil {
			uv = m[1]
		}
		if m := regexp.MustCompile(`\[HIGHESTMODSEQ (\d+)\]`).FindStringSubmatch(l); m != nil {
			hms = m[1]
		}
	}
	a.do("UID FETCH 1:* (FLAGS)")
	known := slices.Clone(a.uids)
	a.do("UNSELECT")

	// Another session changes the mailbox.
	b := h.login()
	b.cmd("SELECT INBOX")
	b.cmd("STORE 1,5 +FLAGS (\\Flagged)")
	b.cmd("STORE 2,3,7 +FLAGS.SILENT (\\Deleted)")
	b.cmd("EXPUNGE")
	h.put(h.alice, "INBOX", testMsg)

	lines = a.do(fmt.Sprintf("SELECT INBOX (QRESYNC (%s %s 1:10))", uv, hms))
	var vanished []uint32
	changed := map[uint32]string{}
	for _, l := range lines {
		if m := regexp.MustCompile(`^\* VANISHED \(EARLIER\) (.*)$`).FindStringSubmatch(l); m != nil {
			for _, part := range strings.Split(m[1], ",") {
				lo, hi, _ := strings.Cut(part, ":")
				x, _ := strconv.Atoi(lo)
				y := x
				if hi != "" {
					y, _ = strconv.Atoi(hi)
				}
				for u := x; u <= y; u++ {
					vanished = append(vanished, uint32(u))
				}
			}
		}
		if m := regexp.MustCompile(`UID (\d+) FLAGS (\([^)]*\))`).FindStringSubmatch(l); m != nil {
			u, _ := strconv.Atoi(m[1])
			changed[uint32(u)] = m[2]
		}
	}
	if !slices.Equal(vanished, []uint32{2, 3, 7}) {
		t.Errorf("VANISHED (EARLIER) %v, want 2,3,7", vanished)
	}
	if changed[1] != `(\Flagged)` || changed[5] != `(\Flagged)` || len(changed) != 2 {
		t.Errorf("changed flags %v, want UIDs 1 and 5 \\Flagged", changed)
	}
	// Known minus vanished, plus what is new, is the store's list.
	model := slices.DeleteFunc(known, func(u uint32) bool { return slices.Contains(vanished, u) })
	a.do("UID FETCH 1:* (UID)")
	var want []uint32
	for _, m := range h.messages(h.alice, "INBOX") {
		want = append(want, m.UID)
	}
	if !slices.Equal(append(model, 11), want) || !slices.Equal(a.uids, want) {
		t.Errorf("resynchronized %v (+11) / fetched %v, store %v", model, a.uids, want)
	}
}
