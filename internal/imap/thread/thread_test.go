package thread

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"postel/internal/imap"
)

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in, want string
		reply    bool
	}{
		{"hello", "hello", false},
		{"Re: hello", "hello", true},
		{"RE:  Re[2]: FWD:hello (fwd)", "hello", true},
		{"Fw: x", "x", true},
		{"fw : x", "x", true},
		{"Re [PATCH 1/2]: fix", "fix", true},
		{"[Fwd: Re: Meeting]", "Meeting", true},
		{"[Fwd: [fwd: a]]", "a", true},
		{"Fwd: [fwd: a]", "a", true},
		{"[fwd: x] (fwd)", "x", true},
		{"[fwd:]", "", true},
		{"[list] Re: topic", "topic", true},
		{"[list] [x] RE: topic", "topic", true},
		{"[x]re:", "", true},
		{"[list] topic", "topic", false},
		{"[a] [b]", "[b]", false},
		{"[only]", "[only]", false},
		{"re: [only]", "[only]", true},
		{"[a] re:", "", true}, // (4) sees "re:" left, then (3) takes it
		{"Re: (fwd)", "", true},
		{"Re:", "", true},
		{"Ref: subject", "Ref: subject", false},
		{"Reply: x", "Reply: x", false},
		{"Fwdx: y", "Fwdx: y", false},
		{"Hello World (FWD)", "Hello World", true},
		{"(fwd) first", "(fwd) first", false},
		{"  tabs\tand \r\n  spaces  ", "tabs and spaces", false},
		{"[unclosed re: x", "[unclosed re: x", false},
		{"[a[b]] x", "[a[b]] x", false},
		{"Re: Réunion  été", "Réunion été", true},
		{"", "", false},
	}
	for _, tt := range tests {
		got, reply := baseSubject(tt.in)
		if got != tt.want || reply != tt.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tt.in, got, reply, tt.want, tt.reply)
		}
		if BaseSubject(tt.in) != tt.want {
			t.Errorf("BaseSubject(%q) = %q", tt.in, BaseSubject(tt.in))
		}
	}
}

func TestCasemap(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"hello", "HELLO"},
		{"école", "E\u0301COLE"},
		{"E\u0301cole", "E\u0301COLE"}, // composed and decomposed alike
		{"\u212a", "K"},                // KELVIN SIGN
		{"ǆ", "Dz\u030c"},              // titlecase (ǅ, not Ǆ), then NFKD
		{"ﬁ", "fi"},                    // no titlecase mapping; NFKD then (RFC 5051 as written)
		{"_x", "_X"},
	} {
		if got := casemap(tt.in); got != tt.want {
			t.Errorf("casemap(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSortAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Alice <Alice@example.org>, bob@example.net", "Alice"},
		{"bob@example.net, Alice <alice@example.org>", "bob"},
		{`"Doe, John" <john.doe@example.org>`, "john.doe"},
		{`"quoted local"@example.org`, "quoted local"},
		{`"a\"b"@example.org`, `a"b`},
		{"(comment) carol@example.org (Carol)", "carol"},
		{"Dave (the <boss>) <dave@example.org>", "dave"},
		{"<@relay.example,@other.example:eve@example.org>", "eve"},
		{"Team: frank@example.org, gina@example.org;", "Team"},
		{`"The Team": h@example.org;`, "The Team"},
		{": ivan@example.org;", "ivan"},
		{"undisclosed-recipients:;", "undisclosed-recipients"},
		{"judy@[IPv6:::1]", "judy"},
		{",, , kate@example.org", "kate"},
		{"nodomain", "nodomain"},
		{"", ""},
		{"  ", ""},
		{"<unterminated@example.org", "unterminated"},
	}
	for _, tt := range tests {
		if got := SortAddress(tt.in); got != tt.want {
			t.Errorf("SortAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

var base = time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)

// at returns the time n hours after base.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

func seqs(ms []Msg) string {
	var s []string
	for _, m := range ms {
		s = append(s, strconv.Itoa(int(m.SeqNum)))
	}
	return strings.Join(s, " ")
}

func TestSort(t *testing.T) {
	plus2 := time.FixedZone("", 2*3600)
	msgs := []Msg{
		{SeqNum: 1, Internal: at(5), Sent: at(1), Size: 300, Subject: "Re: banana", From: "zed", To: "Bob", Cc: ""},
		{SeqNum: 2, Internal: at(3), Sent: time.Time{}, Size: 100, Subject: "apple", From: "Amy", To: "bob", Cc: "x"},
		{SeqNum: 3, Internal: at(4), Sent: at(2).In(plus2), Size: 200, Subject: "[list] Cherry", From: "amy", To: "carl", Cc: "a"},
		{SeqNum: 4, Internal: at(1), Sent: at(2), Size: 100, Subject: "BANANA (fwd)", From: "", To: "_under", Cc: "b"},
		{SeqNum: 5, Internal: at(2), Sent: at(0), Size: 400, Subject: "Apple", From: "Émile", To: "émile", Cc: "E"},
	}
	tests := []struct {
		criteria string
		want     string
	}{
		{"ARRIVAL", "4 5 2 3 1"},
		{"REVERSE ARRIVAL", "1 3 2 5 4"},
		// Message 2 has no Date: its internal date, hour 3, stands in.
		// Messages 3 and 4 were sent at the same instant in different
		// zones: a tie, broken by sequence number.
		{"DATE", "5 1 3 4 2"},
		{"REVERSE DATE", "2 3 4 1 5"},
		{"SIZE", "2 4 3 1 5"},
		{"REVERSE SIZE", "5 1 3 2 4"}, // ties stay in sequence order
		{"SUBJECT", "2 5 1 4 3"},
		{"SUBJECT DATE", "5 2 1 4 3"},
		{"SUBJECT REVERSE DATE", "2 5 4 1 3"},
		{"FROM", "4 2 3 5 1"}, // "" first, Amy = amy, É after A and before Z
		{"TO", "1 2 3 5 4"},   // _ sorts after letters under titlecase, as under i;ascii-casemap
		{"CC", "1 3 4 5 2"},
		{"REVERSE CC SIZE", "2 5 4 3 1"},
		{"", "1 2 3 4 5"},
	}
	for _, tt := range tests {
		var crit []imap.SortCriterion
		rev := false
		for _, w := range strings.Fields(tt.criteria) {
			if w == "REVERSE" {
				rev = true
				continue
			}
			crit = append(crit, imap.SortCriterion{Key: w, Reverse: rev})
			rev = false
		}
		in := append([]Msg(nil), msgs...)
		// Input order must not matter.
		rand.New(rand.NewPCG(1, uint64(len(tt.criteria)))).Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		shuffled := seqs(in)
		got := seqs(Sort(in, crit))
		if got != tt.want {
			t.Errorf("SORT (%s) = %s, want %s", tt.criteria, got, tt.want)
		}
		if seqs(in) != shuffled {
			t.Errorf("SORT (%s) changed its input", tt.criteria)
		}
	}
}

func TestFormat(t *testing.T) {
	n := func(seq uint32, kids ...*Thread) *Thread {
		return &Thread{SeqNum: seq, UID: seq * 10, Children: kids}
	}
	dummy := func(kids ...*Thread) *Thread { return &Thread{Children: kids} }
	tests := []struct {
		threads []*Thread
		seq     string
		uid     string
	}{
		{nil, "", ""},
		// The example of RFC 5256 §4.
		{[]*Thread{n(2), n(3, n(6, n(4, n(23)), n(44, n(7, n(96)))))}, "(2)(3 6 (4 23)(44 7 96))", "(20)(30 60 (40 230)(440 70 960))"},
		{[]*Thread{dummy(n(3), n(5))}, "((3)(5))", "((30)(50))"},
		{[]*Thread{n(1, n(2), n(3, n(4)))}, "(1 (2)(3 4))", "(10 (20)(30 40))"},
		{[]*Thread{dummy(n(3, n(4)), n(5)), n(6)}, "((3 4)(5))(6)", "((30 40)(50))(60)"},
		// Dummies elsewhere: one child continues the chain, none is nothing.
		{[]*Thread{dummy(n(7)), dummy(), n(1, dummy(n(2), n(3)), dummy())}, "(7)(1 (2)(3))", "(70)(10 (20)(30))"},
	}
	for _, tt := range tests {
		if got := Format(tt.threads, false); got != tt.seq {
			t.Errorf("Format = %q, want %q", got, tt.seq)
		}
		if got := Format(tt.threads, true); got != tt.uid {
			t.Errorf("Format uid = %q, want %q", got, tt.uid)
		}
	}
}

func TestOrderedSubject(t *testing.T) {
	msgs := []Msg{
		{SeqNum: 1, Sent: at(3), Subject: "Apple"},
		{SeqNum: 2, Sent: at(1), Subject: "Re: apple"},
		{SeqNum: 3, Sent: at(2), Subject: "banana"},
		{SeqNum: 4, Sent: at(4), Subject: "[list] Apple (fwd)"},
		{SeqNum: 5, Internal: at(0), Subject: ""},
		{SeqNum: 6, Sent: at(5), Subject: "BANANA"},
		{SeqNum: 7, Sent: at(5), Subject: "Cherry"},
		{SeqNum: 8, Sent: at(5), Subject: "cherry"},
	}
	got := Format(OrderedSubject(msgs), false)
	want := "(5)(2 (1)(4))(3 6)(7 8)"
	if got != want {
		t.Errorf("ORDEREDSUBJECT = %s, want %s", got, want)
	}
	if got := Format(OrderedSubject(nil), false); got != "" {
		t.Errorf("empty: %q", got)
	}
}

// ref builds a message for REFERENCES tests: sent at hour seq unless
// given, with References from refs ("" for none).
type ref struct {
	seq        uint32
	id         string
	refs       string // space-separated
	inReplyTo  string
	subject    string
	sentHour   int // 0: seq
	noSentDate bool
}

func build(rs []ref) []Msg {
	var ms []Msg
	for _, r := range rs {
		h := r.sentHour
		if h == 0 {
			h = int(r.seq)
		}
		m := Msg{SeqNum: r.seq, UID: r.seq + 100, Sent: at(h), Internal: at(100 + int(r.seq)),
			MessageID: r.id, InReplyTo: r.inReplyTo, References: strings.Fields(r.refs), Subject: r.subject}
		if r.noSentDate {
			m.Sent = time.Time{}
		}
		ms = append(ms, m)
	}
	return ms
}

func TestReferences(t *testing.T) {
	tests := []struct {
		name string
		msgs []ref
		want string
	}{
		{
			name: "replies",
			msgs: []ref{
				{seq: 1, id: "a", subject: "hello"},
				{seq: 2, id: "b", refs: "a", subject: "Re: hello"},
				{seq: 3, id: "c", refs: "a b", subject: "Re: hello"},
				{seq: 4, id: "d", refs: "a", subject: "Re: hello"},
				{seq: 5, id: "e", subject: "other"},
			},
			want: "(1 (2 3)(4))(5)",
		},
		{
			name: "In-Reply-To when References is empty",
			msgs: []ref{
				{seq: 1, id: "a"},
				{seq: 2, id: "b", inReplyTo: "a"},
				{seq: 3, id: "c", refs: "b", inReplyTo: "a"},
			},
			want: "(1 2 3)",
		},
		{
			name: "missing parent kept as a dummy over two",
			msgs: []ref{
				{seq: 1, id: "x1", refs: "missing", subject: "topic"},
				{seq: 2, id: "x2", refs: "missing", subject: "Re: topic"},
				{seq: 3, id: "x3", refs: "gone"},
			},
			want: "((1)(2))(3)",
		},
		{
			name: "dummy in the middle is pruned",
			msgs: []ref{
				{seq: 1, id: "a"},
				{seq: 2, id: "b", refs: "a missing"},
				{seq: 3, id: "c", refs: "a missing"},
			},
			want: "(1 (2)(3))",
		},
		{
			name: "subjects gathered",
			msgs: []ref{
				{seq: 1, id: "a", subject: "Meeting"},
				{seq: 2, id: "b", subject: "Re: Meeting"},
				{seq: 3, id: "c", subject: "meeting"},
				{seq: 4, id: "d", subject: "lunch"},
				{seq: 5, id: "e", subject: ""},
				{seq: 6, id: "f", subject: ""},
			},
			want: "((1 2)(3))(4)(5)(6)",
		},
		{
			name: "a non-reply root preferred, replies under it",
			msgs: []ref{
				{seq: 1, id: "a", subject: "Re: plan"},
				{seq: 2, id: "b", subject: "plan"},
				{seq: 3, id: "c", subject: "Fwd: plan"},
			},
			want: "(2 (1)(3))",
		},
		{
			name: "dummies with the same subject merge",
			msgs: []ref{
				{seq: 1, id: "a", refs: "m1", subject: "x"},
				{seq: 2, id: "b", refs: "m1", subject: "x"},
				{seq: 3, id: "c", refs: "m2", subject: "Re: x"},
				{seq: 4, id: "d", refs: "m2", subject: "x"},
				{seq: 5, id: "e", subject: "x"},
			},
			want: "((1)(2)(3)(4)(5))",
		},
		{
			name: "loop between two messages",
			msgs: []ref{
				{seq: 1, id: "a", refs: "b"},
				{seq: 2, id: "b", refs: "a"},
			},
			want: "(2 1)",
		},
		{
			name: "self reference",
			// 2 makes b the parent of a; a as b's parent would be a loop.
			msgs: []ref{{seq: 1, id: "a", refs: "a"}, {seq: 2, id: "b", refs: "b a"}},
			want: "(2 1)",
		},
		{
			name: "cycle in references",
			msgs: []ref{
				{seq: 1, id: "a", refs: "c b"},
				{seq: 2, id: "b", refs: "a c"},
				{seq: 3, id: "c", refs: "b a"},
			},
			want: "(3 2 1)",
		},
		{
			// 3's last reference is its own Message-ID: step 1.B breaks
			// the link 1.A made from "x" and makes none (a loop).
			name: "own Message-ID last in References",
			msgs: []ref{
				{seq: 1, id: "x", subject: "one"},
				{seq: 2, id: "a", refs: "x a", subject: "two"},
			},
			want: "(1)(2)",
		},
		{
			// 2 puts 3 under 1 (1.A) and itself under 3; 3's own parent,
			// 2, would make a loop: 1.B still breaks 3 off from 1.
			name: "last reference a descendant",
			msgs: []ref{
				{seq: 1, id: "b", subject: "one"},
				{seq: 2, id: "a", refs: "b c", subject: "two"},
				{seq: 3, id: "c", refs: "a", subject: "three"},
			},
			want: "(1)(3 2)",
		},
		{
			name: "duplicate Message-ID",
			msgs: []ref{
				{seq: 1, id: "a", subject: "one"},
				{seq: 2, id: "a", subject: "two"},
				{seq: 3, id: "c", refs: "a", subject: "three"},
			},
			want: "(1 3)(2)",
		},
		{
			name: "message IDs are case-sensitive",
			msgs: []ref{
				{seq: 1, id: "A", subject: "one"},
				{seq: 2, id: "b", refs: "a", subject: "two"},
			},
			want: "(1)(2)",
		},
		{
			name: "the message's own references replace a guessed parent",
			msgs: []ref{
				{seq: 1, id: "z", refs: "a c", subject: "one"},
				{seq: 2, id: "c", refs: "b", subject: "two"},
			},
			want: "(2 1)",
		},
		{
			name: "no references: a guessed parent is dropped",
			msgs: []ref{
				{seq: 1, id: "z", refs: "a c", subject: "one"},
				{seq: 2, id: "c", subject: "two"},
			},
			want: "(2 1)",
		},
		{
			name: "no references, parent message dropped",
			msgs: []ref{
				{seq: 1, id: "a", subject: "one"},
				{seq: 2, id: "z", refs: "a c", subject: "two"},
				{seq: 3, id: "c", subject: "three"},
			},
			want: "(1)(3 2)",
		},
		{
			name: "siblings and roots by sent date",
			msgs: []ref{
				{seq: 1, id: "a", sentHour: 10, subject: "p"},
				{seq: 2, id: "b", refs: "a", sentHour: 30, subject: "q"},
				{seq: 3, id: "c", refs: "a", sentHour: 20, subject: "r"},
				{seq: 4, id: "d", sentHour: 5, subject: "s"},
				{seq: 5, id: "e", refs: "gone", sentHour: 7, subject: "t"},
				{seq: 6, id: "f", refs: "gone", sentHour: 3, subject: "u"},
				// No Date: its internal date (hour 107) counts.
				{seq: 7, id: "g", noSentDate: true, subject: "v"},
			},
			want: "((6)(5))(4)(1 (3)(2))(7)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs := build(tt.msgs)
			got := Format(References(msgs), false)
			if got != tt.want {
				t.Errorf("REFERENCES = %s, want %s", got, tt.want)
			}
			// The order of the input does not matter.
			rand.New(rand.NewPCG(3, 4)).Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
			if again := Format(References(msgs), false); again != got {
				t.Errorf("shuffled: %s", again)
			}
		})
	}
}

// TestReferencesDeep checks that a long chain neither recurses deeply nor
// takes quadratic time.
func TestReferencesDeep(t *testing.T) {
	const n = 100000
	msgs := make([]Msg, n)
	for i := range msgs {
		msgs[i] = Msg{SeqNum: uint32(i + 1), MessageID: "m" + strconv.Itoa(i), Sent: at(i)}
		if i > 0 {
			msgs[i].References = []string{"m" + strconv.Itoa(i-1)}
		}
	}
	threads := References(msgs)
	if len(threads) != 1 {
		t.Fatalf("%d threads", len(threads))
	}
	depth := 0
	for th := threads[0]; ; th = th.Children[0] {
		depth++
		if len(th.Children) == 0 {
			break
		}
	}
	if depth != n {
		t.Errorf("depth %d", depth)
	}
	out := Format(threads, false)
	if !strings.HasPrefix(out, "(1 2 3 ") || !strings.HasSuffix(out, " 99999 100000)") {
		t.Errorf("format: %.20s...", out)
	}
}
