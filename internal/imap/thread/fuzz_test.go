package thread

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func FuzzBaseSubject(f *testing.F) {
	for _, s := range []string{
		"Re: hello", "RE:  Re[2]: FWD:hello (fwd)", "[Fwd: [fwd: Re: a]] (fwd)",
		"[list] [x] RE: topic", "[a] re:", "Re [PATCH 1/2]: fix", "  tabs\tand \r\n  spaces  ",
		"[fwd:]", "[a[b]] x", "Réunion (FWD)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, reply := baseSubject(s)
		if len(b) > len(s) {
			t.Errorf("%q grew to %q", s, b)
		}
		if strings.HasPrefix(b, " ") || strings.HasSuffix(b, " ") || strings.Contains(b, "  ") || strings.ContainsAny(b, "\t\r\n") {
			t.Errorf("%q: white space left in %q", s, b)
		}
		// The base subject is its own base subject, and not a reply.
		if b2, reply2 := baseSubject(b); b2 != b || reply2 {
			t.Errorf("%q: %q, then %q (reply %v)", s, b, b2, reply2)
		}
		// Adding a reply prefix changes nothing but the reply flag.
		if b3, reply3 := baseSubject("Re: " + s); b3 != b || !reply3 {
			t.Errorf("Re: %q: %q, want %q (reply %v, was %v)", s, b3, b, reply3, reply)
		}
	})
}

// fuzzMsgs builds up to 48 messages from data: message IDs and references
// drawn from a small set, so that shared references, duplicates and
// cycles are frequent.
func fuzzMsgs(data []byte) []Msg {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		c := data[0]
		data = data[1:]
		return int(c)
	}
	id := func(c int) string {
		if c%9 == 8 {
			return ""
		}
		return "id" + strconv.Itoa(c%9)
	}
	subjects := []string{"", "x", "Re: x", "y", "Fwd: y", "[l] x", "x (fwd)", "z"}
	var msgs []Msg
	for len(data) > 0 && len(msgs) < 48 {
		m := Msg{SeqNum: uint32(len(msgs) + 1), UID: uint32(len(msgs) + 1)}
		m.MessageID = id(next())
		flags := next()
		for range flags % 5 {
			m.References = append(m.References, id(next()))
		}
		if flags&8 != 0 {
			m.InReplyTo = id(next())
		}
		m.Subject = subjects[next()%len(subjects)]
		if flags&16 == 0 {
			m.Sent = at(next() % 7)
		}
		m.Internal = at(next() % 7)
		msgs = append(msgs, m)
	}
	return msgs
}

func FuzzReferences(f *testing.F) {
	f.Add([]byte{1, 1, 2, 3, 2, 2, 1, 4, 3, 3, 2, 1, 5})
	f.Add([]byte{0, 2, 1, 0, 1, 1, 2, 0, 1, 2, 2, 2, 1, 0, 2})            // a cycle
	f.Add([]byte{0, 0, 1, 1, 0, 0, 1, 1, 8, 8, 2, 2, 8, 8, 2, 2})         // dummies
	f.Add([]byte{5, 20, 1, 6, 3, 5, 21, 1, 6, 4, 5, 9, 5, 2, 0, 0, 0, 0}) // duplicates, In-Reply-To
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs := fuzzMsgs(data)
		threads := References(msgs)
		checkForest(t, threads, len(msgs))
		out := Format(threads, false)
		if strings.Count(out, "(") != strings.Count(out, ")") {
			t.Errorf("unbalanced %q", out)
		}
		rand.New(rand.NewPCG(uint64(len(data)), 1)).Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		if again := Format(References(msgs), false); again != out {
			t.Errorf("input order matters: %s, then %s", out, again)
		}
		checkForest(t, OrderedSubject(msgs), len(msgs))
	})
}

// checkForest checks that threads hold messages 1..n once each, that
// dummies are at the top level with two or more children, and that no
// node is reached twice (no cycles, no sharing).
func checkForest(t *testing.T, threads []*Thread, n int) {
	t.Helper()
	seen := make(map[*Thread]bool)
	var nums []int
	type item struct {
		t   *Thread
		top bool
	}
	var work []item
	for _, th := range threads {
		work = append(work, item{th, true})
	}
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		if seen[it.t] {
			t.Fatal("a node reached twice")
		}
		seen[it.t] = true
		if it.t.dummy() {
			if !it.top || len(it.t.Children) < 2 {
				t.Errorf("dummy (top %v) with %d children", it.top, len(it.t.Children))
			}
		} else {
			nums = append(nums, int(it.t.SeqNum))
		}
		for _, c := range it.t.Children {
			work = append(work, item{c, false})
		}
	}
	slices.Sort(nums)
	for i, v := range nums {
		if v != i+1 {
			t.Fatalf("messages %v, want 1..%d", nums, n)
		}
	}
	if len(nums) != n {
		t.Fatalf("%d messages, want %d", len(nums), n)
	}
}
