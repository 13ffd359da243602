package imap

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// run is one ReadCommand over in, recording continuations and APPEND
// sinks, and returning what is left of the input.
type run struct {
	cmd   *Command
	err   error
	conts int
	sinks []*bytes.Buffer
	sizes []int64
	rest  string
}

func readOne(t testing.TB, in string, opts ReaderOptions, sinkErr error) run {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(in))
	r := newTestReader(br, opts)
	var res run
	res.cmd, res.err = r.ReadCommand(
		func() error { res.conts++; return nil },
		func(size int64, binary bool) (io.Writer, error) {
			res.sizes = append(res.sizes, size)
			if sinkErr != nil {
				return nil, sinkErr
			}
			b := new(bytes.Buffer)
			res.sinks = append(res.sinks, b)
			return b, nil
		})
	rest, _ := io.ReadAll(br)
	res.rest = string(rest)
	return res
}

func set(s string) SeqSet {
	ss, err := ParseSeqSet(s)
	if err != nil {
		panic(err)
	}
	return ss
}

func setp(s string) *SeqSet { ss := set(s); return &ss }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func key(op string, children ...*SearchKey) *SearchKey {
	return &SearchKey{Op: op, Children: children}
}

func val(op, v string) *SearchKey { return &SearchKey{Op: op, Value: v} }

func and(children ...*SearchKey) *SearchKey { return key("AND", children...) }

func items(names ...string) []FetchItem {
	var its []FetchItem
	for _, n := range names {
		its = append(its, FetchItem{Name: n})
	}
	return its
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  *Command
		conts int
	}{
		{"capability", "a1 CAPABILITY\r\n", &Command{Tag: "a1", Name: "CAPABILITY"}, 0},
		{"lower case", "a2 noop\r\n", &Command{Tag: "a2", Name: "NOOP"}, 0},
		{"bare LF", "a3 Logout\n", &Command{Tag: "a3", Name: "LOGOUT"}, 0},
		{"tag with specials", "A.1_x] STARTTLS\r\n", &Command{Tag: "A.1_x]", Name: "STARTTLS"}, 0},
		{"no-arg commands", "t NAMESPACE\r\n", &Command{Tag: "t", Name: "NAMESPACE"}, 0},
		{"idle", "t IDLE\r\n", &Command{Tag: "t", Name: "IDLE"}, 0},
		{"check", "t CHECK\r\n", &Command{Tag: "t", Name: "CHECK"}, 0},
		{"close", "t CLOSE\r\n", &Command{Tag: "t", Name: "CLOSE"}, 0},
		{"unselect", "t UNSELECT\r\n", &Command{Tag: "t", Name: "UNSELECT"}, 0},
		{"expunge", "t EXPUNGE\r\n", &Command{Tag: "t", Name: "EXPUNGE"}, 0},
		{"uid expunge", "t UID EXPUNGE 3000:3002,3005\r\n",
			&Command{Tag: "t", Name: "EXPUNGE", UID: true, Args: &ExpungeArgs{Set: set("3000:3002,3005")}}, 0},

		{"login atoms", "a LOGIN alice s3cr]t\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"alice", "s3cr]t"}}, 0},
		{"login quoted escapes", `a LOGIN "al\"ice" "p\\w d"` + "\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{`al"ice`, `p\w d`}}, 0},
		{"login literals", "a LOGIN {5}\r\nalice {7+}\r\nsec\"t\r\n\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"alice", "sec\"t\r\n"}}, 1},
		{"login empty literal", "a LOGIN {0}\r\n \"\"\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"", ""}}, 1},
		{"login utf-8 quoted", "a LOGIN \"jörg\" x\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"jörg", "x"}}, 0},

		{"authenticate", "a AUTHENTICATE scram-sha-256\r\n",
			&Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "SCRAM-SHA-256"}}, 0},
		{"authenticate sasl-ir", "a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
			&Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN", InitialResponse: []byte("\x00alice\x00secret"), HasInitial: true}}, 0},
		{"authenticate empty ir", "a AUTHENTICATE EXTERNAL =\r\n",
			&Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "EXTERNAL", InitialResponse: []byte{}, HasInitial: true}}, 0},

		{"enable", "a ENABLE CONDSTORE utf8=accept\r\n",
			&Command{Tag: "a", Name: "ENABLE", Args: &EnableArgs{[]string{"CONDSTORE", "UTF8=ACCEPT"}}}, 0},

		{"select", "a SELECT inbox\r\n", &Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX"}}, 0},
		{"examine mutf7", "a EXAMINE \"Entw&APw-rfe\"\r\n",
			&Command{Tag: "a", Name: "EXAMINE", Args: &SelectArgs{Mailbox: "Entwürfe", ReadOnly: true}}, 0},
		{"select condstore", "a SELECT INBOX (CONDSTORE)\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", CondStore: true}}, 0},
		{"select qresync", "a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncArgs{
				UIDValidity: 67890007, ModSeq: 90060115194045000, KnownUIDs: setp("41:211,214:541")}}}, 0},
		{"select qresync seq-match (RFC 7162 example)", "B01 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))\r\n",
			&Command{Tag: "B01", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncArgs{
				UIDValidity: 67890007, ModSeq: 90060115194045000, KnownUIDs: setp("1:29997"),
				KnownSeqNums: setp("5000,7500,9000,9990:9999"),
				KnownSeqUIDs: setp("15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997")}}}, 0},
		{"select qresync minimal, condstore", "a SELECT x (CONDSTORE QRESYNC (1 2))\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "x", CondStore: true, QResync: &QResyncArgs{UIDValidity: 1, ModSeq: 2}}}, 0},
		{"select qresync seq-match only", "a SELECT x (QRESYNC (1 2 (1:3 4:6)))\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "x", QResync: &QResyncArgs{UIDValidity: 1, ModSeq: 2,
				KnownSeqNums: setp("1:3"), KnownSeqUIDs: setp("4:6")}}}, 0},

		{"create", "a CREATE foo/bar\r\n", &Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{Mailbox: "foo/bar"}}, 0},
		{"create special-use", "a CREATE MySent (USE (\\sent \\X-Custom))\r\n",
			&Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{Mailbox: "MySent", SpecialUse: []string{`\Sent`, `\X-Custom`}}}, 0},
		{"delete", "a DELETE \"a b\"\r\n", &Command{Tag: "a", Name: "DELETE", Args: &MailboxArgs{"a b"}}, 0},
		{"subscribe", "a SUBSCRIBE &ZeVnLIqe-\r\n", &Command{Tag: "a", Name: "SUBSCRIBE", Args: &MailboxArgs{"日本語"}}, 0},
		{"unsubscribe", "a UNSUBSCRIBE x\r\n", &Command{Tag: "a", Name: "UNSUBSCRIBE", Args: &MailboxArgs{"x"}}, 0},
		{"rename inbox", "a RENAME Inbox old-inbox\r\n", &Command{Tag: "a", Name: "RENAME", Args: &RenameArgs{"INBOX", "old-inbox"}}, 0},

		{"list", "a LIST \"\" *\r\n", &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Reference: "", Patterns: []string{"*"}}}, 0},
		{"list percent", "a LIST ~/Mail/ %/x]\r\n", &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Reference: "~/Mail/", Patterns: []string{"%/x]"}}}, 0},
		{"list mutf7 pattern", "a LIST \"\" \"Entw&APw-rfe/*\"\r\n", &Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"Entwürfe/*"}}}, 0},
		{"list patterns return status", "a LIST \"\" (INBOX Drafts) RETURN (STATUS (MESSAGES UNSEEN))\r\n",
			&Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"INBOX", "Drafts"}, ReturnStatus: []string{"MESSAGES", "UNSEEN"}, Extended: true}}, 0},
		{"list selection", "a list (subscribed RECURSIVEMATCH) \"\" % return (children SUBSCRIBED special-use)\r\n",
			&Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"%"}, Select: []string{"SUBSCRIBED", "RECURSIVEMATCH"},
				ReturnChildren: true, ReturnSubscribed: true, ReturnSpecialUse: true, Extended: true}}, 0},
		{"list empty selection", "a LIST () \"\" x RETURN ()\r\n",
			&Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"x"}, Select: []string{}, Extended: true}}, 0},
		{"lsub", "a LSUB \"#news.\" comp.mail.*\r\n", &Command{Tag: "a", Name: "LSUB", Args: &ListArgs{Reference: "#news.", Patterns: []string{"comp.mail.*"}}}, 0},

		{"status", "a STATUS blurdybloop (UIDNEXT MESSAGES size highestmodseq APPENDLIMIT)\r\n",
			&Command{Tag: "a", Name: "STATUS", Args: &StatusArgs{Mailbox: "blurdybloop", Items: []string{"UIDNEXT", "MESSAGES", "SIZE", "HIGHESTMODSEQ", "APPENDLIMIT"}}}, 0},
		{"status deleted-storage", "a STATUS INBOX (DELETED deleted-storage)\r\n",
			&Command{Tag: "a", Name: "STATUS", Args: &StatusArgs{Mailbox: "INBOX", Items: []string{"DELETED", "DELETED-STORAGE"}}}, 0},

		{"fetch all", "a FETCH 1:* ALL\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1:*"), Items: items("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE")}}, 0},
		{"fetch fast", "a FETCH 1 fast\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: items("FLAGS", "INTERNALDATE", "RFC822.SIZE")}}, 0},
		{"fetch full", "a FETCH $ FULL\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: SeqSet{Saved: true}, Items: items("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY")}}, 0},
		{"fetch single", "a FETCH 2,4 flags\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("2,4"), Items: items("FLAGS")}}, 0},
		{"uid fetch changedsince vanished", "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12 VANISHED)\r\n",
			&Command{Tag: "a", Name: "FETCH", UID: true, Args: &FetchArgs{Set: set("1:*"), Items: items("FLAGS"), ChangedSince: 12, Vanished: true}}, 0},
		{"fetch sections", "a FETCH 2 (BODY.PEEK[HEADER.FIELDS (From To)] BODY[1.2.MIME] body[]<0.1024> BINARY.PEEK[1]<5.10> BINARY.SIZE[2] BINARY[] BODY[TEXT] BODY[3.HEADER] BODY[4.1.TEXT] BODY[header.fields.not (Received)] BODY[2])\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("2"), Items: []FetchItem{
				{Name: "BODY", Peek: true, Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "To"}}},
				{Name: "BODY", Section: &Section{Part: []int{1, 2}, Specifier: "MIME"}},
				{Name: "BODY", Section: &Section{}, Partial: &Partial{0, 1024}},
				{Name: "BINARY", Peek: true, Section: &Section{Part: []int{1}}, Partial: &Partial{5, 10}},
				{Name: "BINARY.SIZE", Section: &Section{Part: []int{2}}},
				{Name: "BINARY", Section: &Section{}},
				{Name: "BODY", Section: &Section{Specifier: "TEXT"}},
				{Name: "BODY", Section: &Section{Part: []int{3}, Specifier: "HEADER"}},
				{Name: "BODY", Section: &Section{Part: []int{4, 1}, Specifier: "TEXT"}},
				{Name: "BODY", Section: &Section{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"Received"}}},
				{Name: "BODY", Section: &Section{Part: []int{2}}},
			}}}, 0},
		{"fetch plain items", "a FETCH 1 (ENVELOPE RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE BODYSTRUCTURE BODY UID MODSEQ SAVEDATE INTERNALDATE)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: items("ENVELOPE", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "RFC822.SIZE", "BODYSTRUCTURE", "BODY", "UID", "MODSEQ", "SAVEDATE", "INTERNALDATE")}}, 0},
		{"fetch header field literal", "a FETCH 1 BODY[HEADER.FIELDS ({7}\r\nX-Weird)]\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: set("1"), Items: []FetchItem{{Name: "BODY", Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"X-Weird"}}}}}}, 1},

		{"store", "a STORE 2:4 +FLAGS (\\deleted)\r\n",
			&Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: set("2:4"), Op: StoreAdd, Flags: []string{`\Deleted`}}}, 0},
		{"store silent list", "a UID STORE 1 -flags.silent \\Seen $Junk \\X\r\n",
			&Command{Tag: "a", Name: "STORE", UID: true, Args: &StoreArgs{Set: set("1"), Op: StoreRemove, Silent: true, Flags: []string{`\Seen`, "$Junk", `\X`}}}, 0},
		{"store unchangedsince 0 empty", "a STORE 1 (UNCHANGEDSINCE 0) FLAGS ()\r\n",
			&Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: set("1"), Op: StoreReplace, Flags: []string{}, HasUnchangedSince: true}}, 0},
		{"store unchangedsince", "a STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
			&Command{Tag: "a", Name: "STORE", Args: &StoreArgs{Set: set("7,5,9"), Op: StoreAdd, Silent: true, Flags: []string{`\Deleted`}, UnchangedSince: 320162338, HasUnchangedSince: true}}, 0},

		{"copy", "a COPY 2:4 MEETING\r\n", &Command{Tag: "a", Name: "COPY", Args: &CopyArgs{Set: set("2:4"), Mailbox: "MEETING"}}, 0},
		{"uid move", "a uid move 42 \"Trash\"\r\n", &Command{Tag: "a", Name: "MOVE", UID: true, Args: &CopyArgs{Set: set("42"), Mailbox: "Trash"}}, 0},

		{"search rfc example", "a SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR (FROM \"x\" SUBJECT {3}\r\nabc) NOT SEEN\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Charset: "UTF-8", Return: []string{"MIN", "COUNT"}, HasReturn: true,
				Key: and(key("OR", and(val("FROM", "x"), val("SUBJECT", "abc")), key("NOT", key("SEEN"))))}}, 1},
		{"search keys", "a SEARCH 1:5 UID 2,4:* LARGER 100 smaller 2000 SINCE 1-Feb-1994 BEFORE \"15-Nov-2022\" SENTON 01-Jan-2000 HEADER X-Foo \"bar baz\" KEYWORD $Forwarded UNKEYWORD x MODSEQ \"/flags/\\\\draft\" all 620162338 MODSEQ 5 OLDER 3600 YOUNGER 60 SAVEDSINCE 1-Jan-2020 SAVEDATESUPPORTED TEXT {4+}\r\n\xc3\xa4bc BODY b NEW OLD RECENT DRAFT UNDRAFT\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Key: and(
				&SearchKey{Op: "SEQSET", Set: setp("1:5")},
				&SearchKey{Op: "UID", Set: setp("2,4:*")},
				&SearchKey{Op: "LARGER", Number: 100},
				&SearchKey{Op: "SMALLER", Number: 2000},
				&SearchKey{Op: "SINCE", Date: day(1994, 2, 1)},
				&SearchKey{Op: "BEFORE", Date: day(2022, 11, 15)},
				&SearchKey{Op: "SENTON", Date: day(2000, 1, 1)},
				&SearchKey{Op: "HEADER", Field: "X-Foo", Value: "bar baz"},
				val("KEYWORD", "$Forwarded"),
				val("UNKEYWORD", "x"),
				&SearchKey{Op: "MODSEQ", Number: 620162338},
				&SearchKey{Op: "MODSEQ", Number: 5},
				&SearchKey{Op: "OLDER", Number: 3600},
				&SearchKey{Op: "YOUNGER", Number: 60},
				&SearchKey{Op: "SAVEDSINCE", Date: day(2020, 1, 1)},
				key("SAVEDATESUPPORTED"),
				val("TEXT", "äbc"),
				val("BODY", "b"),
				key("NEW"), key("OLD"), key("RECENT"), key("DRAFT"), key("UNDRAFT"),
			)}}, 0},
		{"search return empty", "a SEARCH RETURN () ALL\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Return: []string{}, HasReturn: true, Key: and(key("ALL"))}}, 0},
		{"uid search save saved", "a UID SEARCH RETURN (SAVE) $ (deleted (flagged))\r\n",
			&Command{Tag: "a", Name: "SEARCH", UID: true, Args: &SearchArgs{Return: []string{"SAVE"}, HasReturn: true,
				Key: and(&SearchKey{Op: "SEQSET", Set: &SeqSet{Saved: true}}, and(key("DELETED"), and(key("FLAGGED"))))}}, 0},
		{"search charset quoted", "a SEARCH CHARSET \"us-ascii\" FROM smith\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Charset: "US-ASCII", Key: and(val("FROM", "smith"))}}, 0},

		{"uid sort", "a UID SORT (REVERSE ARRIVAL subject) UTF-8 ALL\r\n",
			&Command{Tag: "a", Name: "SORT", UID: true, Args: &SortArgs{Criteria: []SortCriterion{{"ARRIVAL", true}, {"SUBJECT", false}}, Charset: "UTF-8", Key: and(key("ALL"))}}, 0},
		{"thread", "a THREAD references US-ASCII SINCE 1-Jan-2020 UNSEEN\r\n",
			&Command{Tag: "a", Name: "THREAD", Args: &ThreadArgs{Algorithm: "REFERENCES", Charset: "US-ASCII", Key: and(&SearchKey{Op: "SINCE", Date: day(2020, 1, 1)}, key("UNSEEN"))}}, 0},

		{"getquota", "a GETQUOTA \"\"\r\n", &Command{Tag: "a", Name: "GETQUOTA", Args: &QuotaArgs{Root: ""}}, 0},
		{"getquotaroot", "a GETQUOTAROOT INBOX\r\n", &Command{Tag: "a", Name: "GETQUOTAROOT", Args: &MailboxArgs{"INBOX"}}, 0},
		{"setquota", "a SETQUOTA \"\" (STORAGE 512 message 10)\r\n",
			&Command{Tag: "a", Name: "SETQUOTA", Args: &QuotaArgs{Root: "", Limits: map[string]int64{"STORAGE": 512, "MESSAGE": 10}}}, 0},
		{"id", "a ID (\"name\" \"mutt\" \"Version\" NIL)\r\n",
			&Command{Tag: "a", Name: "ID", Args: &IDArgs{Params: map[string]string{"name": "mutt", "version": ""}}}, 0},
		{"id nil", "a ID NIL\r\n", &Command{Tag: "a", Name: "ID", Args: &IDArgs{}}, 0},
		{"compress", "a COMPRESS deflate\r\n", &Command{Tag: "a", Name: "COMPRESS", Args: &CompressArgs{"DEFLATE"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"next NOOP\r\n", ReaderOptions{}, nil)
			if res.err != nil {
				t.Fatalf("error: %v", res.err)
			}
			if !reflect.DeepEqual(res.cmd, tt.want) {
				t.Errorf("got  %s\nwant %s", dump(res.cmd), dump(tt.want))
			}
			if res.conts != tt.conts {
				t.Errorf("%d continuations, want %d", res.conts, tt.conts)
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("rest %q", res.rest)
			}
		})
	}
}

// dump shows a command with what its pointers point to.
func dump(c *Command) string {
	b, err := json.Marshal(c)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestAppend(t *testing.T) {
	msg310 := strings.Repeat("x", 301) + "\r\nabc\r\n\r\n"
	tests := []struct {
		name   string
		in     string
		box    string
		msgs   []AppendMessage // Sink left out
		bodies []string
		conts  int
	}{
		{"rfc example", "A003 APPEND saved-messages (\\Seen) \"15-Nov-2022 10:00:00 +0100\" {310}\r\n" + msg310 + "\r\n",
			"saved-messages",
			[]AppendMessage{{Flags: []string{`\Seen`}, Date: time.Date(2022, 11, 15, 10, 0, 0, 0, time.FixedZone("", 3600)), Size: 310}},
			[]string{msg310}, 1},
		{"multiappend", "a APPEND INBOX (\\Seen) {5}\r\nhello (\\Draft $x) \" 1-Jan-2020 00:00:00 -0030\" {6+}\r\nworld! {1}\r\nz\r\n",
			"INBOX",
			[]AppendMessage{
				{Flags: []string{`\Seen`}, Size: 5},
				{Flags: []string{`\Draft`, "$x"}, Date: time.Date(2020, 1, 1, 0, 0, 0, 0, time.FixedZone("", -1800)), Size: 6},
				{Size: 1},
			},
			[]string{"hello", "world!", "z"}, 2},
		{"literal8", "a APPEND Drafts () ~{4}\r\n\x00bin\r\n", "Drafts",
			[]AppendMessage{{Flags: []string{}, Size: 4, Binary: true}}, []string{"\x00bin"}, 1},
		{"utf8 data", "a APPEND INBOX UTF8 (~{3+}\r\nabc)\r\n", "INBOX",
			[]AppendMessage{{Size: 3, Binary: true}}, []string{"abc"}, 0},
		{"empty message", "a APPEND INBOX {0+}\r\n\r\n", "INBOX",
			[]AppendMessage{{Size: 0}}, []string{""}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"next NOOP\r\n", ReaderOptions{}, nil)
			if res.err != nil {
				t.Fatal(res.err)
			}
			a, ok := res.cmd.Args.(*AppendArgs)
			if res.cmd.Name != "APPEND" || !ok {
				t.Fatalf("got %s", dump(res.cmd))
			}
			if a.Mailbox != tt.box {
				t.Errorf("mailbox %q", a.Mailbox)
			}
			if len(a.Messages) != len(tt.msgs) || len(res.sinks) != len(tt.msgs) {
				t.Fatalf("%d messages, %d sinks, want %d", len(a.Messages), len(res.sinks), len(tt.msgs))
			}
			for i, m := range a.Messages {
				if m.Sink != res.sinks[i] {
					t.Errorf("message %d: wrong sink", i)
				}
				if got := res.sinks[i].String(); got != tt.bodies[i] {
					t.Errorf("message %d: body %q, want %q", i, got, tt.bodies[i])
				}
				want := tt.msgs[i]
				if !m.Date.Equal(want.Date) || m.Date.IsZero() != want.Date.IsZero() {
					t.Errorf("message %d: date %v, want %v", i, m.Date, want.Date)
				}
				if _, off := m.Date.Zone(); !m.Date.IsZero() {
					if _, woff := want.Date.Zone(); off != woff {
						t.Errorf("message %d: zone offset %d, want %d", i, off, woff)
					}
				}
				m.Sink, m.Date, want.Date = nil, time.Time{}, time.Time{}
				if !reflect.DeepEqual(m, want) {
					t.Errorf("message %d: %+v, want %+v", i, m, want)
				}
			}
			if res.conts != tt.conts {
				t.Errorf("%d continuations, want %d", res.conts, tt.conts)
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("rest %q", res.rest)
			}
		})
	}
}

func TestReadCommandErrors(t *testing.T) {
	long := strings.Repeat("x", 200)
	small := ReaderOptions{MaxLine: 100, MaxLiteral: 10, MaxAppend: 20, MaxArgs: 5, MaxDepth: 4, MaxCommand: 400}
	tests := []struct {
		name   string
		in     string
		opts   ReaderOptions
		tag    string
		status string
		code   string
		text   string // contained in Text
		conts  int
	}{
		{"empty line", "\r\n", small, "", "BAD", "", "empty command line", 0},
		{"bad tag", "+a NOOP\r\n", small, "", "BAD", "", "invalid tag", 0},
		{"bad tag char", "a{ NOOP\r\n", small, "", "BAD", "", "invalid tag", 0},
		{"missing command", "a\r\n", small, "a", "BAD", "", "missing command", 0},
		{"unknown command", "a FROB x\r\n", small, "a", "BAD", "", "unknown command FROB", 0},
		{"double space", "a  NOOP\r\n", small, "a", "BAD", "", "expected an atom", 0},
		{"uid noop", "a UID NOOP\r\n", small, "a", "BAD", "", "NOOP has no UID form", 0},
		{"extra args", "a NOOP now\r\n", small, "a", "BAD", "", "unexpected characters", 0},
		{"trailing space", "a LOGIN x y \r\n", small, "a", "BAD", "", "unexpected characters", 0},
		{"missing arg", "a LOGIN x\r\n", small, "a", "BAD", "", "expected a space at end of line", 0},
		{"bad escape", "a LOGIN \"a\\b\" x\r\n", small, "a", "BAD", "", "invalid escape", 0},
		{"unterminated", "a LOGIN \"abc\r\n", small, "a", "BAD", "", "unterminated", 0},
		{"literal not at end", "a LOGIN {3} x\r\n", small, "a", "BAD", "", "invalid literal", 0},
		{"literal8 in login", "a LOGIN ~{3+}\r\nabc x\r\n", small, "a", "BAD", "", "expected a space", 0},
		{"nul in literal", "a LOGIN {3+}\r\na\x00c x\r\n", small, "a", "BAD", "", "NUL", 0},

		{"line too long", "a NOOP " + long + "\r\n", small, "a", "BAD", "TOOBIG", "line too long", 0},
		{"line too long, no tag", long + "\r\n", small, "", "BAD", "TOOBIG", "line too long", 0},
		{"line too long then non-sync literal", "a LOGIN " + long + " {5+}\r\nhello {3+}\r\nabc\r\n", small, "a", "BAD", "TOOBIG", "line too long", 0},
		{"line too long then sync literal", "a LOGIN " + long + " {5}\r\n", small, "a", "BAD", "TOOBIG", "line too long", 0},
		{"continuation line too long", "a LOGIN {1}\r\nx " + long + "\r\n", small, "a", "BAD", "TOOBIG", "line too long", 1},
		{"sync literal too big", "a LOGIN {11}\r\n", small, "a", "NO", "TOOBIG", "literal of 11 octets", 0},
		{"non-sync literal too big", "a LOGIN {11+}\r\n01234567890 x\r\n", small, "a", "BAD", "TOOBIG", "literal of 11 octets", 0},
		{"non-sync too big then more literals", "a LOGIN {11+}\r\n01234567890 {2+}\r\nxy\r\n", small, "a", "BAD", "TOOBIG", "literal of 11", 0},
		// 2^64+1 must not wrap around to a 1-octet literal.
		{"sync literal past 2^64", "a LOGIN {18446744073709551617}\r\n", small, "a", "NO", "TOOBIG", "literal of 9223372036854775807 octets", 0},
		{"sync literal past 2^63", "a LOGIN {9223372036854775808}\r\n", small, "a", "NO", "TOOBIG", "too large", 0},
		{"append past 2^64", "a APPEND INBOX {18446744073709551617}\r\n", small, "a", "NO", "TOOBIG", "APPENDLIMIT", 0},
		{"syntax error before non-sync literal", "a FROB {5+}\r\nhello {3+}\r\nabc\r\n", small, "a", "BAD", "", "unknown command", 0},
		{"syntax error before sync literal", "a FROB {5}\r\n", small, "a", "BAD", "", "unknown command", 0},
		{"command too long", "a LOGIN {10}\r\n0123456789 {10}\r\n", ReaderOptions{MaxLiteral: 10, MaxCommand: 30}, "a", "BAD", "TOOBIG", "command too long", 1},
		{"literal over command limit", "a LOGIN {10}\r\n0123456789 {10}\r\n", ReaderOptions{MaxLiteral: 10, MaxCommand: 40}, "a", "NO", "TOOBIG", "literal of 10 octets too large (limit 9)", 1},

		{"append sync too big", "a APPEND INBOX {21}\r\n", small, "a", "NO", "TOOBIG", "APPENDLIMIT 20", 0},
		{"append non-sync too big", "a APPEND INBOX {21+}\r\n012345678901234567890\r\n", small, "a", "BAD", "TOOBIG", "APPENDLIMIT", 0},
		{"append nul", "a APPEND INBOX {3+}\r\na\x00c\r\n", small, "a", "BAD", "", "NUL", 0},
		{"append no literal", "a APPEND INBOX (\\Seen)\r\n", small, "a", "BAD", "", "expected a space", 0},
		{"append utf8 needs literal8", "a APPEND INBOX UTF8 ({3+}\r\nabc)\r\n", small, "a", "BAD", "", "expected literal8", 0},
		{"append bad date", "a APPEND INBOX \"32-Jan-2020 00:00:00 +0000\" {1}\r\n", small, "a", "BAD", "", "date-time", 0},
		{"append bad zone", "a APPEND INBOX \"01-Jan-2020 00:00:00 0000\" {1+}\r\nx\r\n", small, "a", "BAD", "", "date-time", 0},
		{"append flag wildcard", "a APPEND INBOX (\\*) {1}\r\n", small, "a", "BAD", "", "expected an atom", 0},
		{"too many messages", "a APPEND INBOX {1+}\r\n1 {1+}\r\n2 {1+}\r\n3 {1+}\r\n4 {1+}\r\n5 {1+}\r\n6\r\n", small, "a", "BAD", "", "too many items", 0},

		{"search bad date", "a SEARCH SINCE 31-Feb-2020\r\n", small, "a", "BAD", "", "expected a date", 0},
		{"search bad month", "a SEARCH ON 1-Foo-2020\r\n", small, "a", "BAD", "", "expected a date", 0},
		{"search short year", "a SEARCH ON 1-Jan-20\r\n", small, "a", "BAD", "", "expected a date", 0},
		{"search nesting NOT", "a SEARCH NOT NOT NOT NOT SEEN\r\n", small, "a", "BAD", "", "nested too deeply", 0},
		{"search nesting parens", "a SEARCH ((((SEEN))))\r\n", small, "a", "BAD", "", "nested too deeply", 0},
		{"search default depth", "a SEARCH " + strings.Repeat("NOT ", 40) + "SEEN\r\n", ReaderOptions{}, "a", "BAD", "", "nested too deeply", 0},
		{"search unknown key", "a SEARCH FUZZY x\r\n", small, "a", "BAD", "", "unknown search key FUZZY", 0},
		{"search unbalanced", "a SEARCH (SEEN\r\n", small, "a", "BAD", "", "expected a space", 0},
		{"search too many keys", "a SEARCH SEEN SEEN SEEN SEEN SEEN SEEN\r\n", small, "a", "BAD", "", "too many items", 0},
		{"search bad return", "a SEARCH RETURN (FOO) ALL\r\n", small, "a", "BAD", "", "unknown return option", 0},
		{"search empty", "a SEARCH\r\n", small, "a", "BAD", "", "expected a space", 0},
		{"search zero seq", "a SEARCH 0:3\r\n", small, "a", "BAD", "", "0 is not a valid number", 0},
		{"search huge number", "a SEARCH LARGER 9223372036854775808\r\n", small, "a", "BAD", "", "too large", 0},
		{"modseq entry", "a SEARCH MODSEQ \"/x\" all 1\r\n", small, "a", "BAD", "", "entry name", 0},

		{"fetch vanished without uid", "a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", small, "a", "BAD", "", "only allowed in UID FETCH", 0},
		{"fetch vanished without changedsince", "a UID FETCH 1 FLAGS (VANISHED)\r\n", small, "a", "BAD", "", "needs CHANGEDSINCE", 0},
		{"fetch changedsince 0", "a FETCH 1 FLAGS (CHANGEDSINCE 0)\r\n", small, "a", "BAD", "", "mod-sequence 0", 0},
		{"fetch mime without part", "a FETCH 1 BODY[MIME]\r\n", small, "a", "BAD", "", "MIME needs a part", 0},
		{"fetch partial zero", "a FETCH 1 BODY[]<0.0>\r\n", small, "a", "BAD", "", "partial count", 0},
		{"fetch part zero", "a FETCH 1 BODY[0]\r\n", small, "a", "BAD", "", "part numbers start at 1", 0},
		{"fetch part path too long", "a FETCH 1 BODY[1.1.1.1.1]\r\n", small, "a", "BAD", "", "part path too long", 0},
		{"fetch unknown", "a FETCH 1 (FLAGS FOO)\r\n", small, "a", "BAD", "", "unknown FETCH item", 0},
		{"fetch macro in list", "a FETCH 1 (ALL)\r\n", small, "a", "BAD", "", "unknown FETCH item", 0},
		{"fetch peek without section", "a FETCH 1 BODY.PEEK\r\n", small, "a", "BAD", "", `expected '['`, 0},
		{"fetch binary section spec", "a FETCH 1 BINARY[1.TEXT]\r\n", small, "a", "BAD", "", "expected a part number", 0},
		{"fetch size partial", "a FETCH 1 BINARY.SIZE[1]<0.1>\r\n", small, "a", "BAD", "", "expected a space", 0},
		{"fetch size partial in list", "a FETCH 1 (BINARY.SIZE[1]<0.1>)\r\n", small, "a", "BAD", "", "expected a space", 0},
		{"fetch empty list", "a FETCH 1 ()\r\n", small, "a", "BAD", "", "empty list", 0},
		{"fetch bad set", "a FETCH 1:2:3 FLAGS\r\n", small, "a", "BAD", "", "sequence set", 0},

		{"store bad op", "a STORE 1 *FLAGS (\\Seen)\r\n", small, "a", "BAD", "", "expected an atom", 0},
		{"store bad name", "a STORE 1 +FLAG (\\Seen)\r\n", small, "a", "BAD", "", "expected FLAGS", 0},
		{"store modifier", "a STORE 1 (FOO 1) FLAGS x\r\n", small, "a", "BAD", "", "unknown STORE modifier", 0},

		// A well-formed command naming a mailbox that is not valid
		// modified UTF-7: NO (RFC 3501 §5.1.3, §6.3.1), not BAD.
		{"select bad mutf7", "a SELECT &Jjo\r\n", small, "a", "NO", "CANNOT", "mailbox name is not valid modified UTF-7", 0},
		{"create bad mutf7", "a CREATE &AGE-&AGI-\r\n", small, "a", "NO", "CANNOT", "not valid modified UTF-7", 0},
		{"select 8-bit name", "a SELECT \"b\xc3\xa4r\"\r\n", small, "a", "BAD", "", "modified UTF-7", 0},
		{"select known star", "a SELECT INBOX (QRESYNC (1 2 1:*))\r\n", small, "a", "BAD", "", "not allowed in QRESYNC", 0},
		{"select unknown param", "a SELECT INBOX (FOO)\r\n", small, "a", "BAD", "", "unknown SELECT parameter", 0},
		{"select qresync twice", "a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))\r\n", small, "a", "BAD", "", "twice", 0},
		{"list recursivematch alone", "a LIST (RECURSIVEMATCH) \"\" *\r\n", small, "a", "BAD", "", "RECURSIVEMATCH", 0},
		{"list unknown option", "a LIST (FOO) \"\" *\r\n", small, "a", "BAD", "", "unknown LIST selection option", 0},
		{"list bad return", "a LIST \"\" * FOO (CHILDREN)\r\n", small, "a", "BAD", "", "expected RETURN", 0},
		{"status unknown", "a STATUS INBOX (MESSAGES FOO)\r\n", small, "a", "BAD", "", "unknown STATUS item", 0},
		{"status empty", "a STATUS INBOX ()\r\n", small, "a", "BAD", "", "empty list", 0},
		{"create unknown param", "a CREATE x (FOO)\r\n", small, "a", "BAD", "", "unknown CREATE parameter", 0},
		{"sort unknown", "a SORT (DISPLAYNAME) UTF-8 ALL\r\n", small, "a", "BAD", "", "unknown SORT criterion", 0},
		{"sort no charset", "a SORT (DATE) ALL\r\n", small, "a", "BAD", "", "expected a space", 0},
		{"thread unknown", "a THREAD REFS UTF-8 ALL\r\n", small, "a", "BAD", "", "unknown THREAD algorithm", 0},
		{"id too long", "a ID (\"" + strings.Repeat("k", 31) + "\" NIL)\r\n", ReaderOptions{}, "a", "BAD", "", "too long", 0},
		{"authenticate bad base64", "a AUTHENTICATE PLAIN !!!\r\n", small, "a", "BAD", "", "base64", 0},
		{"setquota dup", "a SETQUOTA \"\" (STORAGE 1 storage 2)\r\n", small, "a", "BAD", "", "twice", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"next NOOP\r\n", tt.opts, nil)
			var pe *ParseError
			if !errors.As(res.err, &pe) {
				t.Fatalf("got %s, %v; want a ParseError", dump(res.cmd), res.err)
			}
			if pe.Tag != tt.tag || pe.Status != tt.status || pe.Code != tt.code || !strings.Contains(pe.Text, tt.text) {
				t.Errorf("got tag %q %s [%s] %q, want tag %q %s [%s] containing %q", pe.Tag, pe.Status, pe.Code, pe.Text, tt.tag, tt.status, tt.code, tt.text)
			}
			if res.conts != tt.conts {
				t.Errorf("%d continuations, want %d", res.conts, tt.conts)
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("stream left at %q, want the next command", res.rest)
			}
		})
	}
}

func TestSinkErrors(t *testing.T) {
	quota := &ParseError{Status: "NO", Code: "OVERQUOTA", Text: "quota exceeded"}
	plain := errors.New("disk on fire")
	for _, tt := range []struct {
		name  string
		in    string
		err   error
		code  string
		text  string
		sizes []int64
	}{
		{"sync refused", "a APPEND INBOX {5}\r\n", quota, "OVERQUOTA", "quota exceeded", []int64{5}},
		{"non-sync refused", "a APPEND INBOX {5+}\r\nhello {2+}\r\nxy\r\n", plain, "", "message not accepted", []int64{5}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := readOne(t, tt.in+"next NOOP\r\n", ReaderOptions{}, tt.err)
			var pe *ParseError
			if !errors.As(res.err, &pe) || pe.Status != "NO" || pe.Code != tt.code || pe.Text != tt.text || pe.Tag != "a" {
				t.Fatalf("got %v", res.err)
			}
			if !errors.Is(res.err, tt.err) {
				t.Errorf("%v does not wrap %v", res.err, tt.err)
			}
			if res.conts != 0 || !reflect.DeepEqual(res.sizes, tt.sizes) {
				t.Errorf("%d continuations, sink sizes %v", res.conts, res.sizes)
			}
			if res.rest != "next NOOP\r\n" {
				t.Errorf("rest %q", res.rest)
			}
		})
	}
}

// failWriter accepts n octets, then fails.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return w.n, errors.New("spool full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestSinkWriteFails(t *testing.T) {
	in := "a APPEND INBOX {10+}\r\n0123456789 {10}\r\n"
	br := bufio.NewReaderSize(strings.NewReader(in+"next NOOP\r\n"), 16)
	r := newTestReader(br, ReaderOptions{})
	calls := 0
	_, err := r.ReadCommand(nil, func(int64, bool) (io.Writer, error) {
		calls++
		return &failWriter{n: 4}, nil
	})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Status != "NO" || pe.Err == nil || pe.Err.Error() != "spool full" {
		t.Fatalf("got %v", err)
	}
	if calls != 1 {
		t.Errorf("sink called %d times", calls)
	}
	cmd, err := r.ReadCommand(nil, nil)
	if err != nil || cmd.Tag != "next" {
		t.Errorf("next command: %v %v", cmd, err)
	}
}

func TestIOErrors(t *testing.T) {
	for _, tt := range []struct{ in string }{
		{"a NOOP"},
		{"a LOGIN {5}\r\nabc"},
		{"a APPEND INBOX {5+}\r\nabc"},
		{"a LOGIN {5+}\r\nabcde"},
	} {
		res := readOne(t, tt.in, ReaderOptions{}, nil)
		if res.err != io.ErrUnexpectedEOF {
			t.Errorf("%q: got %v, want unexpected EOF", tt.in, res.err)
		}
	}
	if res := readOne(t, "", ReaderOptions{}, nil); res.err != io.EOF {
		t.Errorf("empty input: got %v", res.err)
	}
	cerr := errors.New("write failed")
	br := bufio.NewReader(strings.NewReader("a LOGIN {1}\r\nx y\r\n"))
	if _, err := newTestReader(br, ReaderOptions{}).ReadCommand(func() error { return cerr }, nil); err != cerr {
		t.Errorf("continuation error: got %v", err)
	}
}

func TestHTTP(t *testing.T) {
	for _, in := range []string{"GET / HTTP/1.1\r\n", "POST /login HTTP/1.0\r\n", "CONNECT example.org:443 HTTP/1.1\r\n"} {
		if res := readOne(t, in, ReaderOptions{}, nil); res.err != ErrHTTP {
			t.Errorf("%q: got %v", in, res.err)
		}
	}
	// A tag that merely looks like a method is IMAP.
	if res := readOne(t, "GET NOOP\r\n", ReaderOptions{}, nil); res.err != nil || res.cmd.Tag != "GET" {
		t.Errorf("GET NOOP: %v", res.err)
	}
}

func TestUTF8Mode(t *testing.T) {
	r := newTestReader(bufio.NewReader(strings.NewReader("a SELECT \"Entw&APw-rfe\"\r\nb SELECT \"Entwürfe\"\r\nc SELECT \"\xff\"\r\n")), ReaderOptions{UTF8: true})
	for _, want := range []string{"Entw&APw-rfe", "Entwürfe"} {
		cmd, err := r.ReadCommand(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := cmd.Args.(*SelectArgs).Mailbox; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if _, err := r.ReadCommand(nil, nil); err == nil || !strings.Contains(err.Error(), "not valid UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
	r.SetUTF8(false)
	r.br = bufio.NewReader(strings.NewReader("d SELECT \"Entw&APw-rfe\"\r\n"))
	cmd, err := r.ReadCommand(nil, nil)
	if err != nil || cmd.Args.(*SelectArgs).Mailbox != "Entwürfe" {
		t.Errorf("after SetUTF8(false): %v %v", cmd, err)
	}
}

func TestReadIdleDone(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		rest string
	}{
		{"DONE\r\nx", true, "x"},
		{"done\n", true, ""},
		{"DONE x\r\n", false, ""},
		{"a NOOP {3+}\r\nabc\r\nx", false, "x"},
	} {
		br := bufio.NewReader(strings.NewReader(tt.in))
		err := newTestReader(br, ReaderOptions{}).ReadIdleDone()
		var pe *ParseError
		if tt.ok != (err == nil) || (!tt.ok && !errors.As(err, &pe)) {
			t.Errorf("%q: %v", tt.in, err)
		}
		if rest, _ := io.ReadAll(br); string(rest) != tt.rest {
			t.Errorf("%q: rest %q", tt.in, rest)
		}
	}
}

func TestReadSASLResponse(t *testing.T) {
	for _, tt := range []struct {
		in        string
		want      string
		cancelled bool
		bad       bool
	}{
		{"AGFsaWNlAHNlY3JldA==\r\n", "\x00alice\x00secret", false, false},
		{"AGFsaWNlAHNlY3JldA\r\n", "\x00alice\x00secret", false, false},
		{"\r\n", "", false, false},
		{"*\r\n", "", true, false},
		{"!!!\r\n", "", false, true},
		{strings.Repeat("A", 100) + "\r\n", "", false, true},
	} {
		r := newTestReader(bufio.NewReader(strings.NewReader(tt.in)), ReaderOptions{MaxLine: 50})
		b, cancelled, err := r.ReadSASLResponse()
		var pe *ParseError
		if tt.bad != errors.As(err, &pe) || (!tt.bad && err != nil) {
			t.Errorf("%q: error %v", tt.in, err)
			continue
		}
		if string(b) != tt.want || cancelled != tt.cancelled {
			t.Errorf("%q: got %q %v", tt.in, b, cancelled)
		}
	}
}

// TestCommandsInARow reads a pipeline of commands and errors from one
// stream, as a session does.
func TestCommandsInARow(t *testing.T) {
	in := "a1 NOOP\r\n" +
		"a2 FROB {3+}\r\nabc\r\n" +
		"a3 LOGIN {100}\r\n" +
		"a4 LOGIN x {2}\r\nyz\r\n" +
		"a5 NOOP " + strings.Repeat("y", 300) + " {2+}\r\nzz\r\n" +
		"a6 LOGOUT\r\n"
	r := newTestReader(bufio.NewReader(strings.NewReader(in)), ReaderOptions{MaxLine: 100, MaxLiteral: 50})
	var got []string
	for {
		cmd, err := r.ReadCommand(nil, nil)
		var pe *ParseError
		switch {
		case err == io.EOF:
			want := []string{"a1 NOOP", "a2 BAD", "a3 NO", "a4 LOGIN", "a5 BAD", "a6 LOGOUT"}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
			return
		case errors.As(err, &pe):
			got = append(got, pe.Tag+" "+pe.Status)
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, cmd.Tag+" "+cmd.Name)
		}
	}
}

func TestParseDateTime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // RFC 3339, "" for invalid
	}{
		{"17-Jul-1996 02:44:25 -0700", "1996-07-17T02:44:25-07:00"},
		{" 5-Nov-2022 10:00:00 +0100", "2022-11-05T10:00:00+01:00"},
		{"5-nov-2022 23:59:60 +0000", "2022-11-05T23:59:59Z"},
		{"29-Feb-2024 00:00:00 +0000", "2024-02-29T00:00:00Z"},
		{"29-Feb-2023 00:00:00 +0000", ""},
		{"17-Jul-1996 24:00:00 -0700", ""},
		{"17-Jul-1996 02:44:25 -07000", ""},
		{"17-Jul-1996 02:44:25", ""},
		{"17-Jul-96 02:44:25 -0700", ""},
		{"17 Jul 1996 02:44:25 -0700", ""},
	} {
		got, ok := parseDateTime(tt.in)
		if (tt.want == "") == ok || (ok && got.Format(time.RFC3339) != tt.want) {
			t.Errorf("%q: got %v %v, want %q", tt.in, got, ok, tt.want)
		}
	}
}

// TestHugeNonSyncLiteral: a non-synchronizing literal announced past 2^63
// (here 2^64+1) is a literal too big for every limit, whose octets the
// reader skips (as for any oversize non-synchronizing literal), never a
// 1-octet literal after a wrap-around: the octet that follows is not taken
// as its content, and no command results.
func TestHugeNonSyncLiteral(t *testing.T) {
	small := ReaderOptions{MaxLine: 100, MaxLiteral: 10, MaxAppend: 20, MaxArgs: 5, MaxDepth: 4, MaxCommand: 400}
	res := readOne(t, "a LOGIN {18446744073709551617+}\r\nx y\r\n", small, nil)
	if res.cmd != nil || !errors.Is(res.err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %+v, %v; want the literal's octets awaited (unexpected EOF)", res.cmd, res.err)
	}
	if n, sync, ok := parseLiteralHeader([]byte("{18446744073709551617}")); !ok || !sync || n != maxNumber64 {
		t.Fatalf("parseLiteralHeader(2^64+1) = %d, %v, %v", n, sync, ok)
	}
	if _, _, ok := parseLiteralHeader([]byte("{1x}")); ok {
		t.Fatal("parseLiteralHeader accepted a non-digit")
	}
}
