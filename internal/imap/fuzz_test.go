package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// fuzzSeeds are command streams for FuzzReadCommand; testdata/fuzz holds
// more.
var fuzzSeeds = []string{
	"a GETMETADATA (MAXSIZE 1024 DEPTH infinity) \"\" (/shared/comment /private)\r\n",
	"a SETMETADATA INBOX (/private/comment {3+}\r\nabc /shared/x ~{2}\r\n\x00\x01 /private/y NIL)\r\n",
	"a NOTIFY SET STATUS (SELECTED (MessageNew (UID BODY.PEEK[HEADER]) MessageExpunge)) (SUBTREE (INBOX \"a b\") (MailboxName)) (PERSONAL NONE)\r\n",
	"a1 CAPABILITY\r\n",
	"a LOGIN {5}\r\nalice {6+}\r\nsecret\r\n",
	"a AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n",
	"a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541))\r\n",
	"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12 VANISHED)\r\n",
	"a FETCH 2 (BODY.PEEK[HEADER.FIELDS (From To)] BODY[1.2.MIME] BODY[]<0.1024> BINARY.SIZE[2])\r\n",
	"A003 APPEND saved-messages (\\Seen) \"15-Nov-2022 10:00:00 +0100\" {5}\r\nhello (\\Draft) ~{3+}\r\na\x00b\r\n",
	"a LIST \"\" (INBOX Drafts) RETURN (STATUS (MESSAGES UNSEEN))\r\n",
	"a SEARCH RETURN (MIN COUNT) CHARSET UTF-8 OR (FROM \"x\" SUBJECT {3}\r\nabc) NOT SEEN\r\n",
	"a STORE 1 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Deleted)\r\n",
	"a UID SORT (REVERSE DATE) UTF-8 ALL\r\nb THREAD REFERENCES US-ASCII SINCE 1-Jan-2020\r\n",
	"a FROB {5+}\r\nhello {3}\r\n",
	"a LOGIN {99999}\r\nb NOOP\r\n",
	"GET / HTTP/1.1\r\n",
	"a ID (\"name\" NIL)\r\nb COMPRESS DEFLATE\r\nc CREATE x (USE (\\Sent))\r\n",
	"a UID SORT RETURN (UPDATE PARTIAL -1:-10 MIN) (DISPLAYFROM) UTF-8 ALL\r\nb CANCELUPDATE \"a\"\r\nc UID FETCH 1:* FLAGS (PARTIAL 1:5)\r\n",
	// Every state and command family, so that mutations start from each.
	"a CAPABILITY\r\nb NOOP\r\nc STARTTLS\r\nd LOGOUT\r\ne NAMESPACE\r\nf CHECK\r\ng CLOSE\r\nh UNSELECT\r\ni EXPUNGE\r\n",
	"a ENABLE CONDSTORE UTF8=ACCEPT QRESYNC\r\nb IDLE\r\nDONE\r\n",
	"a EXAMINE \"Entw&APw-rfe\" (CONDSTORE)\r\nb SELECT {5+}\r\nINBOX\r\n",
	"a STATUS \"a \\\"b\\\\\" (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE APPENDLIMIT)\r\n",
	"a RENAME old new\r\nb DELETE \"x y\"\r\nc SUBSCRIBE INBOX.a\r\nd UNSUBSCRIBE {1}\r\n%\r\ne LSUB \"\" *\r\n",
	"a LIST (SUBSCRIBED REMOTE) \"\" (\"*\" %) RETURN (CHILDREN SPECIAL-USE)\r\n",
	"a UID COPY 1:3,5,$ Archive\r\nb MOVE *:4 Trash\r\nc UID MOVE 4294967295 x\r\nd UID EXPUNGE 1:*\r\n",
	"a SEARCH CHARSET UTF-8 NOT (OR SEEN FLAGGED) OR OR ANSWERED DELETED DRAFT SINCE 1-Feb-1994 BEFORE 02-Mar-2024\r\n",
	"a UID SEARCH RETURN (SAVE ALL) 1,3:5 UID 2:* LARGER 100 SMALLER 1000 HEADER \"X-A\" \"\" KEYWORD $Junk MODSEQ 5 OLDER 60 YOUNGER 1\r\n",
	"a SEARCH TEXT \"caf\xc3\xa9\" BODY {3+}\r\nabc SENTON 5-Jan-2020 NEW OLD RECENT UNKEYWORD x $\r\n",
	"a FETCH 1:* ALL\r\nb FETCH 1 FAST\r\nc FETCH 1 FULL\r\nd FETCH 1 (BINARY.PEEK[1.2]<0.10> BODY[HEADER.FIELDS.NOT (Received)]<5.6> RFC822.TEXT)\r\n",
	"a STORE 1:* -FLAGS (\\Seen $Label1)\r\nb UID STORE 2 FLAGS.SILENT ()\r\n",
	"a APPEND INBOX (\\Seen) {3+}\r\nabc (\\Draft) \" 1-Jan-2024 00:00:00 +0000\" {2+}\r\nxy\r\n",
	"a GETQUOTAROOT INBOX\r\nb GETQUOTA \"\"\r\nc SETQUOTA \"\" (STORAGE 512)\r\n",
	"a THREAD ORDEREDSUBJECT UTF-8 (OR FROM a TO b)\r\nb SORT (REVERSE ARRIVAL CC DATE FROM SIZE SUBJECT TO) UTF-8 ALL\r\n",
	"a FETCH 1 (BODY[1.2.3.4.5.6.7.8.9.10]<4294967296.1>)\r\nb FETCH 99999999999999999999 FLAGS\r\nc FETCH 0 FLAGS\r\n",
	"a LOGIN \"unterminated\r\nb LOGIN a\x00b c\r\nc SELECT (\r\nd FETCH 1 (((((((((FLAGS)))))))))\r\n",
	"a AUTHENTICATE SCRAM-SHA-256\r\nbiwsbj1hbGljZSxyPXh5eg==\r\n*\r\n",
}

func FuzzReadCommand(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	opts := ReaderOptions{MaxLine: 200, MaxLiteral: 100, MaxAppend: 1000, MaxDepth: 8, MaxArgs: 50, MaxCommand: 2000}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A small buffer exercises lines and literals across reads.
		r := newTestReader(bufio.NewReaderSize(bytes.NewReader(data), 16), opts)
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatal("commands read without consuming input")
			}
			var sinks []*countingSink
			cmd, err := r.ReadCommand(nil, func(size int64, binary bool) (io.Writer, error) {
				if size > opts.MaxAppend {
					t.Fatalf("sink asked for %d octets, over the limit", size)
				}
				s := &countingSink{max: size}
				sinks = append(sinks, s)
				return s, nil
			})
			// Memory held stays within the line limit (and append's growth).
			if c := cap(r.line); c > 2*(opts.MaxLine+2+16) {
				t.Fatalf("line buffer grew to %d", c)
			}
			for _, s := range sinks {
				if s.n > s.max {
					t.Fatalf("%d octets streamed into a sink of %d", s.n, s.max)
				}
			}
			var pe *ParseError
			switch {
			case errors.As(err, &pe):
				if pe.Status != "BAD" && pe.Status != "NO" || pe.Text == "" {
					t.Fatalf("bad ParseError %#v", pe)
				}
				continue
			case err != nil:
				return // EOF, or ErrHTTP: the connection ends
			}
			if cmd.Tag == "" || cmd.Name == "" {
				t.Fatalf("command without tag or name: %+v", cmd)
			}
			if a, ok := cmd.Args.(*FetchArgs); ok {
				checkFetchItemNames(t, a.Items)
			}
			if a, ok := cmd.Args.(*AppendArgs); ok {
				for j, m := range a.Messages {
					if s := m.Sink.(*countingSink); s.n != m.Size || m.Size != sinks[j].max {
						t.Fatalf("message %d: %d octets streamed, size %d", j, s.n, m.Size)
					}
				}
			}
		}
	})
}

// checkFetchItemNames checks that the names the Writer gives FETCH
// response items parse back to the items.
func checkFetchItemNames(t *testing.T, items []FetchItem) {
	for _, it := range items {
		if it.Partial != nil {
			continue // the response names only the origin
		}
		name := render(false, func(w *Writer) { w.FetchItemName(it) })
		res := readOne(t, "x FETCH 1 "+name+"\r\n", ReaderOptions{}, nil)
		it.Peek, it.Lazy = false, false // responses name neither .PEEK nor LAZY (RFC 8970 §6)
		if res.err != nil || !reflect.DeepEqual(res.cmd.Args.(*FetchArgs).Items, []FetchItem{it}) {
			t.Fatalf("%+v written as %q, which parses to %s, %v", it, name, dump(res.cmd), res.err)
		}
	}
}

type countingSink struct{ n, max int64 }

func (s *countingSink) Write(p []byte) (int, error) {
	s.n += int64(len(p))
	return len(p), nil
}

// repeatReader repeats s forever.
type repeatReader struct {
	s string
	i int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.i:])
		n += c
		r.i = (r.i + c) % len(r.s)
	}
	return n, nil
}

func BenchmarkParseUIDFetch(b *testing.B) {
	r := newTestReader(bufio.NewReader(&repeatReader{s: "a42 UID FETCH 1:* (FLAGS)\r\n"}), ReaderOptions{})
	b.ReportAllocs()
	for b.Loop() {
		cmd, err := r.ReadCommand(nil, nil)
		if err != nil || cmd.Name != "FETCH" {
			b.Fatal(cmd, err)
		}
	}
}

func BenchmarkParseAppend(b *testing.B) {
	msg := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
	line := "a APPEND INBOX (\\Seen) {65536+}\r\n" + string(msg) + "\r\n"
	r := newTestReader(bufio.NewReader(&repeatReader{s: line}), ReaderOptions{})
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadCommand(nil, func(int64, bool) (io.Writer, error) { return io.Discard, nil }); err != nil {
			b.Fatal(err)
		}
	}
}
