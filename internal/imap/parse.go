package imap

import (
	"slices"
	"strings"
)

// Syntax reads the arguments of one command, the rest of its line after
// the name (and literals), into cmd.Args. Errors go through the Reader's
// own helpers (BAD, NO [TOOBIG] ...); the Syntax values below are the
// command argument grammars of RFC 9051 §9 and the extensions.
type Syntax func(r *Reader, cmd *Command)

// Grammar says what a server knows: the argument syntax of a command name
// (upper case, without UID), whether it has a UID form, and ok false for
// an unknown command. The server derives it from its command table, so
// the parser accepts exactly the commands the server serves.
type Grammar func(name string) (syn Syntax, uid, ok bool)

// parseCommand parses the command line in r.line into cmd: tag SP
// ["UID" SP] name [arguments].
func (r *Reader) parseCommand(cmd *Command) {
	if len(r.line) == 0 {
		r.bad("empty command line")
	}
	tag := r.chars(tagChar)
	if len(tag) == 0 || (!r.atEnd() && r.peek() != ' ') {
		r.pos = 0
		r.syntax("invalid tag")
	}
	cmd.Tag = string(tag)
	if r.atEnd() {
		r.bad("missing command name")
	}
	r.sp()
	cmd.Name = r.word()
	if cmd.Name == "UID" {
		r.sp()
		cmd.Name, cmd.UID = r.word(), true
	}
	syn, uid, ok := r.opts.Grammar(cmd.Name)
	switch {
	case !ok:
		name := cmd.Name
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if cmd.UID {
			name = "UID " + name
		}
		r.bad("unknown command " + name)
	case cmd.UID && !uid:
		// RFC 9051 §6.4.9 and the extensions giving a UID form (RFC 4315
		// UID EXPUNGE, RFC 6851 UID MOVE, RFC 5256 UID SORT and THREAD).
		r.bad(cmd.Name + " has no UID form")
	}
	syn(r, cmd)
	if !r.atEnd() {
		r.syntax("unexpected characters after the command")
	}
}

// The argument syntaxes (RFC 9051 §9 unless said).
var (
	// SyntaxNone: commands without arguments (CAPABILITY, NOOP, LOGOUT,
	// STARTTLS, NAMESPACE, IDLE, CHECK, CLOSE, UNSELECT).
	SyntaxNone Syntax = func(*Reader, *Command) {}
	// SyntaxExpunge: EXPUNGE, and UID EXPUNGE SP sequence-set (RFC 4315 §2.1).
	SyntaxExpunge Syntax = func(r *Reader, cmd *Command) {
		if cmd.UID {
			r.sp()
			cmd.Args = &ExpungeArgs{Set: r.seqSet()}
		}
	}
	SyntaxAuthenticate Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.authenticate() }
	SyntaxLogin        Syntax = func(r *Reader, cmd *Command) {
		a := &LoginArgs{}
		r.sp()
		a.Username = r.astring()
		r.sp()
		a.Password = r.astring()
		cmd.Args = a
	}
	// SyntaxEnable: "ENABLE" 1*(SP capability) (RFC 5161 §4).
	SyntaxEnable Syntax = func(r *Reader, cmd *Command) {
		a := &EnableArgs{}
		for {
			r.sp()
			r.item()
			a.Capabilities = append(a.Capabilities, r.word())
			if r.atEnd() {
				break
			}
		}
		cmd.Args = a
	}
	// SyntaxSelect: SELECT and EXAMINE, told apart by the name.
	SyntaxSelect Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.selectArgs(cmd.Name == "EXAMINE") }
	SyntaxCreate Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.create() }
	// SyntaxMailbox: one mailbox (DELETE, SUBSCRIBE, UNSUBSCRIBE,
	// GETQUOTAROOT).
	SyntaxMailbox Syntax = func(r *Reader, cmd *Command) {
		r.sp()
		cmd.Args = &MailboxArgs{Mailbox: r.mailbox()}
	}
	SyntaxRename Syntax = func(r *Reader, cmd *Command) {
		a := &RenameArgs{}
		r.sp()
		a.From = r.mailbox()
		r.sp()
		a.To = r.mailbox()
		cmd.Args = a
	}
	SyntaxList Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.list() }
	// SyntaxLsub: LSUB (RFC 3501 §6.3.9), ListArgs without options.
	SyntaxLsub Syntax = func(r *Reader, cmd *Command) {
		a := &ListArgs{}
		r.sp()
		a.Reference = r.decodeName(r.astring())
		r.sp()
		a.Patterns = []string{r.listMailbox()}
		cmd.Args = a
	}
	SyntaxStatus Syntax = func(r *Reader, cmd *Command) {
		a := &StatusArgs{}
		r.sp()
		a.Mailbox = r.mailbox()
		r.sp()
		a.Items = r.statusItems()
		cmd.Args = a
	}
	SyntaxAppend Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.appendArgs() }
	// SyntaxReplace: REPLACE and UID REPLACE (RFC 8508 §3).
	SyntaxReplace Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.replace(cmd.UID) }
	SyntaxSearch  Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.search() }
	SyntaxFetch   Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.fetch(cmd.UID) }
	SyntaxStore   Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.store() }
	// SyntaxCopy: COPY and MOVE (RFC 6851 §3.1).
	SyntaxCopy Syntax = func(r *Reader, cmd *Command) {
		a := &CopyArgs{}
		r.sp()
		a.Set = r.seqSet()
		r.sp()
		a.Mailbox = r.mailbox()
		cmd.Args = a
	}
	// SyntaxSort: SORT with ESORT's RETURN options (RFC 5267 §3, RFC 9394).
	SyntaxSort Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.extSort() }
	// SyntaxGetMetadata, SyntaxSetMetadata: RFC 5464 §4.2, §4.3.
	SyntaxGetMetadata Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.getMetadata() }
	SyntaxSetMetadata Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.setMetadata() }
	// SyntaxNotify: NOTIFY (RFC 5465 §8).
	SyntaxNotify Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.notify() }
	// SyntaxACL: SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS (RFC 4314 §3).
	SyntaxACL Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.aclArgs(cmd.Name) }
	// SyntaxCancelUpdate: CANCELUPDATE (RFC 5267 §4.3.5).
	SyntaxCancelUpdate Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.cancelUpdate() }
	SyntaxThread       Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.thread() }
	// SyntaxGetQuota: "GETQUOTA" SP quota-root-name (RFC 9208 §4.2).
	SyntaxGetQuota Syntax = func(r *Reader, cmd *Command) {
		r.sp()
		cmd.Args = &QuotaArgs{Root: r.astring()}
	}
	SyntaxSetQuota Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.setQuota() }
	SyntaxID       Syntax = func(r *Reader, cmd *Command) { cmd.Args = r.id() }
	// SyntaxCompress: "COMPRESS" SP algorithm (RFC 4978 §3).
	SyntaxCompress Syntax = func(r *Reader, cmd *Command) {
		r.sp()
		cmd.Args = &CompressArgs{Mechanism: r.word()}
	}
)

// authenticate: "AUTHENTICATE" SP auth-type [SP (base64 / "=")] (RFC 9051
// §6.2.2; the initial response is SASL-IR, RFC 4959 §3).
func (r *Reader) authenticate() *AuthenticateArgs {
	a := &AuthenticateArgs{}
	r.sp()
	a.Mechanism = r.word()
	if r.atEnd() {
		return a
	}
	r.sp()
	a.HasInitial = true
	s := string(r.line[r.pos:])
	r.pos = len(r.line)
	if s == "=" { // an empty initial response
		a.InitialResponse = []byte{}
		return a
	}
	b, ok := decodeBase64(s)
	if !ok || s == "" {
		r.bad("invalid base64 initial response")
	}
	a.InitialResponse = b
	return a
}

// selectArgs: mailbox [SP "(" select-param *(SP select-param) ")"] with
// CONDSTORE (RFC 7162 §3.1.8) and QRESYNC (RFC 7162 §3.2.5).
func (r *Reader) selectArgs(readOnly bool) *SelectArgs {
	a := &SelectArgs{ReadOnly: readOnly}
	r.sp()
	a.Mailbox = r.mailbox()
	if r.atEnd() {
		return a
	}
	r.sp()
	r.parenList(true, func() {
		switch p := r.word(); p {
		case "CONDSTORE":
			a.CondStore = true
		case "QRESYNC":
			if a.QResync != nil {
				r.bad("QRESYNC given twice")
			}
			r.sp()
			a.QResync = r.qresync()
		default:
			r.bad("unknown SELECT parameter " + p)
		}
	})
	return a
}

// qresync: "(" uidvalidity SP mod-sequence-value [SP known-uids]
// [SP seq-match-data] ")"; seq-match-data = "(" known-sequence-set SP
// known-uid-set ")" (RFC 7162 §3.2.5).
func (r *Reader) qresync() *QResyncArgs {
	q := &QResyncArgs{}
	r.expect('(')
	q.UIDValidity = r.nzNumber()
	r.sp()
	q.ModSeq = r.modSeq()
	if r.take(' ') {
		if r.peek() != '(' {
			set := r.knownSet()
			q.KnownUIDs = &set
			if r.take(' ') {
				r.seqMatch(q)
			}
		} else {
			r.seqMatch(q)
		}
	}
	r.expect(')')
	return q
}

// seqMatch reads seq-match-data: "(" known-sequence-set SP known-uid-set ")".
func (r *Reader) seqMatch(q *QResyncArgs) {
	r.expect('(')
	seqs := r.knownSet()
	r.sp()
	uids := r.knownSet()
	r.expect(')')
	q.KnownSeqNums, q.KnownSeqUIDs = &seqs, &uids
}

// knownSet reads a QRESYNC set, where "*" and "$" are not allowed.
func (r *Reader) knownSet() SeqSet {
	start := r.pos
	set := r.seqSet()
	ok := !set.Saved
	for _, rg := range set.Ranges {
		ok = ok && rg.Start != 0 && rg.Stop != 0
	}
	if !ok {
		r.pos = start
		r.syntax("* and $ are not allowed in QRESYNC sets")
	}
	return set
}

// specialUses maps the RFC 6154 use attributes, upper case, to their
// spelling.
var specialUses = map[string]string{
	`\ALL`:       `\All`,
	`\ARCHIVE`:   `\Archive`,
	`\DRAFTS`:    `\Drafts`,
	`\FLAGGED`:   `\Flagged`,
	`\JUNK`:      `\Junk`,
	`\SENT`:      `\Sent`,
	`\TRASH`:     `\Trash`,
	`\IMPORTANT`: `\Important`, // RFC 8457
}

// create: mailbox [SP "(" create-param *(SP create-param) ")"] with
// "USE" SP "(" [use-attr *(SP use-attr)] ")" (RFC 6154 §3).
func (r *Reader) create() *CreateArgs {
	a := &CreateArgs{}
	r.sp()
	a.Mailbox = r.mailbox()
	if r.atEnd() {
		return a
	}
	r.sp()
	r.parenList(false, func() {
		if p := r.word(); p != "USE" {
			r.bad("unknown CREATE parameter " + p)
		}
		r.sp()
		r.parenList(true, func() {
			r.expect('\\')
			u := `\` + r.atom()
			if c, ok := specialUses[strings.ToUpper(u)]; ok {
				u = c
			}
			a.SpecialUse = append(a.SpecialUse, u)
		})
	})
	return a
}

// list: "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts] (RFC 9051 §6.3.9, RFC 5258 §6, RFC 5819, RFC 6154).
func (r *Reader) list() *ListArgs {
	a := &ListArgs{}
	r.sp()
	if r.peek() == '(' {
		a.Extended = true
		a.Select = []string{}
		r.parenList(true, func() {
			o := r.word()
			switch o {
			case "SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE":
				if !slices.Contains(a.Select, o) {
					a.Select = append(a.Select, o)
				}
			default:
				r.bad("unknown LIST selection option " + o)
			}
		})
		r.sp()
	}
	a.Reference = r.decodeName(r.astring())
	r.sp()
	if r.peek() == '(' {
		a.Extended = true
		r.parenList(false, func() { a.Patterns = append(a.Patterns, r.listMailbox()) })
	} else {
		a.Patterns = []string{r.listMailbox()}
	}
	if !r.atEnd() {
		r.sp()
		if !r.keyword("RETURN") {
			r.syntax("expected RETURN")
		}
		r.sp()
		a.Extended = true
		r.parenList(true, func() {
			switch o := r.word(); o {
			case "SUBSCRIBED":
				a.ReturnSubscribed = true
			case "CHILDREN":
				a.ReturnChildren = true
			case "SPECIAL-USE":
				a.ReturnSpecialUse = true
			case "MYRIGHTS":
				a.ReturnMyRights = true // RFC 8440 §3
			case "STATUS":
				if a.ReturnStatus != nil {
					r.bad("STATUS given twice")
				}
				r.sp()
				a.ReturnStatus = r.statusItems()
			default:
				r.bad("unknown LIST return option " + o)
			}
		})
	}
	// RFC 5258 §3: RECURSIVEMATCH alone (or with REMOTE only) is BAD.
	if slices.Contains(a.Select, "RECURSIVEMATCH") &&
		!slices.Contains(a.Select, "SUBSCRIBED") && !slices.Contains(a.Select, "SPECIAL-USE") {
		r.bad("RECURSIVEMATCH needs another selection option")
	}
	return a
}

// statusItems reads "(" status-att *(SP status-att) ")" (RFC 9051 §6.3.11,
// RFC 7162 HIGHESTMODSEQ, RFC 7889 APPENDLIMIT, RFC 9208 DELETED-STORAGE).
func (r *Reader) statusItems() []string {
	var items []string
	r.parenList(false, func() {
		it := r.word()
		switch it {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID", "DELETED-STORAGE":
			items = append(items, it)
		default:
			r.bad("unknown STATUS item " + it)
		}
	})
	return items
}

// store: sequence-set [SP store-modifiers] SP store-att-flags, with
// store-modifiers "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")" (RFC
// 7162 §3.1.3) and store-att-flags (["+" / "-"] "FLAGS" [".SILENT"]) SP
// (flag-list / (flag *(SP flag))).
func (r *Reader) store() *StoreArgs {
	a := &StoreArgs{}
	r.sp()
	a.Set = r.seqSet()
	r.sp()
	if r.peek() == '(' {
		r.parenList(false, func() {
			if m := r.word(); m != "UNCHANGEDSINCE" {
				r.bad("unknown STORE modifier " + m)
			}
			if a.HasUnchangedSince {
				r.bad("UNCHANGEDSINCE given twice")
			}
			r.sp()
			a.UnchangedSince, a.HasUnchangedSince = r.modSeqZero(), true
		})
		r.sp()
	}
	op := r.word()
	switch op[0] {
	case '+':
		a.Op, op = StoreAdd, op[1:]
	case '-':
		a.Op, op = StoreRemove, op[1:]
	}
	switch op {
	case "FLAGS":
	case "FLAGS.SILENT":
		a.Silent = true
	default:
		r.bad("expected FLAGS, +FLAGS or -FLAGS (with .SILENT)")
	}
	r.sp()
	if r.peek() == '(' {
		a.Flags = r.flagList()
		return a
	}
	for {
		r.item()
		a.Flags = append(a.Flags, r.flag())
		if !r.take(' ') {
			return a
		}
	}
}

// sort: "SORT" SP sort-criteria SP charset 1*(SP search-key) (RFC 5256 §5).
func (r *Reader) sort() *SortArgs {
	a := &SortArgs{}
	r.sp()
	r.parenList(false, func() {
		var c SortCriterion
		if r.keyword("REVERSE") {
			c.Reverse = true
			r.sp()
		}
		c.Key = r.word()
		switch c.Key {
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO": // RFC 5957
		default:
			r.bad("unknown SORT criterion " + c.Key)
		}
		a.Criteria = append(a.Criteria, c)
	})
	r.sp()
	a.Charset = strings.ToUpper(r.astring())
	r.sp()
	a.Key = r.searchProgram()
	return a
}

// thread: "THREAD" SP thread-alg SP charset 1*(SP search-key) (RFC 5256 §5).
func (r *Reader) thread() *ThreadArgs {
	a := &ThreadArgs{}
	r.sp()
	a.Algorithm = r.word()
	if a.Algorithm != "ORDEREDSUBJECT" && a.Algorithm != "REFERENCES" {
		r.bad("unknown THREAD algorithm " + a.Algorithm)
	}
	r.sp()
	a.Charset = strings.ToUpper(r.astring())
	r.sp()
	a.Key = r.searchProgram()
	return a
}

// setQuota: "SETQUOTA" SP quota-root-name SP "(" [setquota-resource
// *(SP setquota-resource)] ")" (RFC 9208).
func (r *Reader) setQuota() *QuotaArgs {
	a := &QuotaArgs{Limits: map[string]int64{}}
	r.sp()
	a.Root = r.astring()
	r.sp()
	r.parenList(true, func() {
		name := r.word()
		if _, dup := a.Limits[name]; dup {
			r.bad("resource " + name + " given twice")
		}
		r.sp()
		a.Limits[name] = r.number64()
	})
	return a
}

// id: "ID" SP ("(" [string SP nstring *(SP string SP nstring)] ")" / nil)
// (RFC 2971 §4; §3.3 bounds fields to 30 octets, values to 1024 and pairs
// to 30).
func (r *Reader) id() *IDArgs {
	a := &IDArgs{}
	r.sp()
	if r.keyword("NIL") {
		return a
	}
	a.Params = map[string]string{}
	r.parenList(true, func() {
		k := r.str()
		r.sp()
		v := r.nstring()
		switch {
		case len(k) > 30 || len(v) > 1024:
			r.bad("ID field or value too long")
		case len(a.Params) == 30:
			r.bad("more than 30 ID fields")
		}
		a.Params[strings.ToLower(k)] = v
	})
	return a
}
