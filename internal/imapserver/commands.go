package imapserver

import (
	"maps"
	"slices"
	"strconv"

	"postel/internal/imap"
	"postel/internal/netserve"
)

// command is one entry of the command table: everything Postel knows of a
// command is here, so the parser, the state diagram, the dispatch and the
// CAPABILITY list cannot disagree.
type command struct {
	syntax imap.Syntax                         // how its arguments are parsed
	states netserve.States                     // the states it is allowed in
	run    func(*session, *imap.Command) error // its handler
	uid    bool                                // it has a UID form (RFC 9051 §6.4.9)
	// seqNumbers: the non-UID form takes and returns message sequence
	// numbers, so no EXPUNGE may be sent while it runs (RFC 9051 §7.5.1).
	seqNumbers bool
	// caps are the capabilities its code serves (RFC 9051 §7.2.2): each is
	// advertised in the states the command is allowed in, and only then.
	caps []capability
}

// capability is one CAPABILITY atom a command brings.
type capability struct {
	name string
	// early: also advertised before login, where the command is not yet
	// allowed (RFC 9051 §7.2.2 lets a server list what becomes usable
	// later; clients look for ENABLE and ID there).
	early bool
	// when, if set, says whether the session may use it now.
	when func(*session) bool
	// value, if set, gives the atoms instead of name (AUTH=..., APPENDLIMIT=n).
	value func(*session) []string
}

func caps(names ...string) []capability {
	c := make([]capability, len(names))
	for i, n := range names {
		c[i] = capability{name: n}
	}
	return c
}

// The session states as a set (RFC 9051 §3).
var (
	inNotAuth  = netserve.In(int(stateNotAuth))
	inAuth     = netserve.In(int(stateAuth))
	inSelected = netserve.In(int(stateSelected))
	inAny      = netserve.In(int(stateNotAuth), int(stateAuth), int(stateSelected))
	inLoggedIn = netserve.In(int(stateAuth), int(stateSelected))
)

// commands is the command table: every command Postel serves (RFC 9051 §6
// and the extensions). The UID forms share their command's entry. It is
// filled in init, since handlers reach the table (CAPABILITY).
var commands map[string]command

func init() {
	commands = map[string]command{
		// Any state (RFC 9051 §6.1; ID, RFC 2971).
		"CAPABILITY": {syntax: imap.SyntaxNone, states: inAny, run: (*session).cmdCapability},
		"NOOP":       {syntax: imap.SyntaxNone, states: inAny, run: (*session).cmdNoop},
		"LOGOUT":     {syntax: imap.SyntaxNone, states: inAny, run: (*session).cmdLogout},
		"ID":         {syntax: imap.SyntaxID, states: inAny, run: (*session).cmdID, caps: []capability{{name: "ID", early: true}}},

		// Not authenticated (RFC 9051 §6.2).
		"STARTTLS": {syntax: imap.SyntaxNone, states: inNotAuth, run: (*session).cmdStartTLS,
			caps: []capability{{name: "STARTTLS", when: func(s *session) bool { return s.srv.tls != nil && !s.tls }}}},
		"AUTHENTICATE": {syntax: imap.SyntaxAuthenticate, states: inNotAuth, run: (*session).cmdAuthenticate,
			caps: []capability{{value: authCaps}, {name: "SASL-IR"}}}, // SASL-IR: RFC 4959
		"LOGIN": {syntax: imap.SyntaxLogin, states: inNotAuth, run: (*session).cmdLogin,
			// RFC 9051 §6.2.3: LOGINDISABLED when LOGIN may not be used.
			caps: []capability{{name: "LOGINDISABLED", when: func(s *session) bool { return !s.loginAllowed() }}}},

		// Authenticated (RFC 9051 §6.3), also allowed when selected.
		"ENABLE": {syntax: imap.SyntaxEnable, states: inAuth, run: (*session).cmdEnable, // RFC 5161 §3.1: before SELECT
			// RFC 6855 UTF8=ACCEPT, RFC 9586 UIDONLY: modes ENABLE turns on.
			caps: []capability{{name: "ENABLE", early: true}, {name: "UTF8=ACCEPT"}, {name: "UIDONLY"}}},
		"SELECT": {syntax: imap.SyntaxSelect, states: inLoggedIn, run: (*session).cmdSelect,
			caps: caps("CONDSTORE", "QRESYNC")}, // RFC 7162
		"EXAMINE": {syntax: imap.SyntaxSelect, states: inLoggedIn, run: (*session).cmdSelect},
		"CREATE": {syntax: imap.SyntaxCreate, states: inLoggedIn, run: (*session).cmdCreate,
			caps: caps("CREATE-SPECIAL-USE")}, // RFC 6154 §3
		"DELETE":      {syntax: imap.SyntaxMailbox, states: inLoggedIn, run: (*session).cmdDelete},
		"RENAME":      {syntax: imap.SyntaxRename, states: inLoggedIn, run: (*session).cmdRename},
		"SUBSCRIBE":   {syntax: imap.SyntaxMailbox, states: inLoggedIn, run: (*session).cmdSubscribe},
		"UNSUBSCRIBE": {syntax: imap.SyntaxMailbox, states: inLoggedIn, run: (*session).cmdSubscribe},
		"LIST": {syntax: imap.SyntaxList, states: inLoggedIn, run: (*session).cmdList,
			caps: caps("CHILDREN", "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS")}, // RFC 3348, 6154, 5258, 5819
		"LSUB":      {syntax: imap.SyntaxLsub, states: inLoggedIn, run: (*session).cmdList},
		"NAMESPACE": {syntax: imap.SyntaxNone, states: inLoggedIn, run: (*session).cmdNamespace, caps: caps("NAMESPACE")},
		"STATUS": {syntax: imap.SyntaxStatus, states: inLoggedIn, run: (*session).cmdStatus,
			caps: caps("STATUS=SIZE")}, // RFC 8438
		"APPEND": {syntax: imap.SyntaxAppend, states: inLoggedIn, run: (*session).cmdAppend,
			caps: []capability{{name: "MULTIAPPEND"}, {value: appendLimit}, {name: "CATENATE"}}}, // RFC 3502, 7889, 4469
		"IDLE":         {syntax: imap.SyntaxNone, states: inLoggedIn, run: (*session).cmdIdle, caps: caps("IDLE")},
		"GETQUOTA":     {syntax: imap.SyntaxGetQuota, states: inLoggedIn, run: (*session).cmdGetQuota, caps: caps("QUOTA", "QUOTA=RES-STORAGE")}, // RFC 9208
		"GETQUOTAROOT": {syntax: imap.SyntaxMailbox, states: inLoggedIn, run: (*session).cmdGetQuotaRoot},
		"SETQUOTA":     {syntax: imap.SyntaxSetQuota, states: inLoggedIn, run: (*session).cmdSetQuota},
		"COMPRESS": {syntax: imap.SyntaxCompress, states: inLoggedIn, run: (*session).cmdCompress,
			// RFC 4978 §3: not offered once active.
			caps: []capability{{name: "COMPRESS=DEFLATE", when: func(s *session) bool { return s.z == nil }}}},

		// RFC 5464: METADATA and METADATA-SERVER when the store keeps
		// metadata; RFC 5465 NOTIFY.
		"GETMETADATA": {syntax: imap.SyntaxGetMetadata, states: inLoggedIn, run: (*session).cmdGetMetadata,
			caps: []capability{{name: "METADATA", when: hasMetadata}, {name: "METADATA-SERVER", when: hasMetadata}}},
		"SETMETADATA": {syntax: imap.SyntaxSetMetadata, states: inLoggedIn, run: (*session).cmdSetMetadata},
		"NOTIFY":      {syntax: imap.SyntaxNotify, states: inLoggedIn, run: (*session).cmdNotify, caps: caps("NOTIFY")},

		// RFC 4314 ACL (acl.go, shared.go), RFC 8440 LIST-MYRIGHTS (a LIST
		// return option).
		"SETACL": {syntax: imap.SyntaxACL, states: inLoggedIn, run: (*session).cmdSetACL,
			caps: []capability{{name: "ACL"}, {name: "RIGHTS=" + newRights}, {name: "LIST-MYRIGHTS"}}},
		"DELETEACL":  {syntax: imap.SyntaxACL, states: inLoggedIn, run: (*session).cmdSetACL},
		"GETACL":     {syntax: imap.SyntaxACL, states: inLoggedIn, run: (*session).cmdGetACL},
		"LISTRIGHTS": {syntax: imap.SyntaxACL, states: inLoggedIn, run: (*session).cmdListRights},
		"MYRIGHTS":   {syntax: imap.SyntaxACL, states: inLoggedIn, run: (*session).cmdMyRights},

		// Selected (RFC 9051 §6.4).
		"CHECK":    {syntax: imap.SyntaxNone, states: inSelected, run: (*session).cmdNoop}, // RFC 3501 §6.4.1; rev2 has no CHECK
		"CLOSE":    {syntax: imap.SyntaxNone, states: inSelected, run: (*session).cmdClose},
		"UNSELECT": {syntax: imap.SyntaxNone, states: inSelected, run: (*session).cmdClose, caps: caps("UNSELECT")}, // RFC 3691
		"EXPUNGE": {syntax: imap.SyntaxExpunge, states: inSelected, run: (*session).cmdExpunge, uid: true,
			caps: caps("UIDPLUS")}, // RFC 4315: UID EXPUNGE, APPENDUID and COPYUID
		"SEARCH": {syntax: imap.SyntaxSearch, states: inSelected, run: (*session).cmdSearch, uid: true, seqNumbers: true,
			// RFC 4731, 5182, 5032; RFC 5267 §4 and RFC 9394 (the RETURN
			// options, also on SORT); RFC 9585 (long SEARCH, SORT, THREAD,
			// COPY, MOVE, STORE).
			caps: caps("ESEARCH", "SEARCHRES", "WITHIN", "CONTEXT=SEARCH", "PARTIAL", "INPROGRESS")},
		"CANCELUPDATE": {syntax: imap.SyntaxCancelUpdate, states: inSelected, run: (*session).cmdCancelUpdate}, // RFC 5267 §4.3.5
		"FETCH": {syntax: imap.SyntaxFetch, states: inSelected, run: (*session).cmdFetch, uid: true, seqNumbers: true,
			caps: []capability{{name: "BINARY"}, {name: "SAVEDATE"}, {name: "PREVIEW"}, // RFC 3516, 8514, 8970
				// RFC 8474 §3: on when the server has its identifier key.
				{name: "OBJECTID", when: func(s *session) bool { return s.srv.objectIDs() }}}},
		"REPLACE": {syntax: imap.SyntaxReplace, states: inSelected, run: (*session).cmdReplace, uid: true,
			caps: caps("REPLACE")}, // RFC 8508 (replace.go)
		"STORE": {syntax: imap.SyntaxStore, states: inSelected, run: (*session).cmdStore, uid: true, seqNumbers: true},
		"COPY":  {syntax: imap.SyntaxCopy, states: inSelected, run: (*session).cmdCopy, uid: true},
		"MOVE":  {syntax: imap.SyntaxCopy, states: inSelected, run: (*session).cmdCopy, uid: true, caps: caps("MOVE")}, // RFC 6851
		"SORT": {syntax: imap.SyntaxSort, states: inSelected, run: (*session).cmdSort, uid: true, seqNumbers: true,
			caps: caps("SORT", "ESORT", "CONTEXT=SORT", "SORT=DISPLAY")}, // RFC 5256, 5267, 5957
		"THREAD": {syntax: imap.SyntaxThread, states: inSelected, run: (*session).cmdThread, uid: true, seqNumbers: true,
			caps: caps("THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES")}, // RFC 5256
	}
}

// grammar is the parser's view of the table.
func grammar(name string) (imap.Syntax, bool, bool) {
	c, ok := commands[name]
	return c.syntax, c.uid, ok
}

// commandNames are the table's names in order, for a stable CAPABILITY.
var commandNames []string

func init() {
	commandNames = slices.Sorted(maps.Keys(commands))
}

// loginAllowed reports whether LOGIN and AUTHENTICATE may be used: over
// TLS, or from loopback when the configuration allows plaintext there.
func (s *session) loginAllowed() bool {
	return s.tls || (s.srv.cfg.AllowPlaintextLoopback && s.remote.IsLoopback())
}

// authCaps are the SASL mechanisms offered now (RFC 9051 §7.2.2 AUTH=).
func authCaps(s *session) []string {
	if !s.loginAllowed() {
		return nil
	}
	var out []string
	for _, m := range s.srv.authn.Mechanisms() {
		out = append(out, "AUTH="+m)
	}
	return out
}

// hasMetadata: the store keeps metadata (store.Metadata).
func hasMetadata(s *session) bool { return s.metadataStore() != nil }

// appendLimit is APPENDLIMIT=n (RFC 7889 §3).
func appendLimit(s *session) []string {
	return []string{"APPENDLIMIT=" + strconv.FormatInt(s.srv.cfg.AppendLimit, 10)}
}

// capabilities lists what the session may use now (RFC 9051 §7.2.2), from
// the command table: the protocol versions and LITERAL+ (the reader's),
// then the capabilities of every command allowed in the session's state
// (or marked early). Before login that is how to log in and what helps
// logging in; after, every extension.
func (s *session) capabilities() string {
	out := []byte("IMAP4rev2 IMAP4rev1 LITERAL+") // LITERAL+: RFC 7888
	for _, name := range commandNames {
		c := commands[name]
		// Once logged in, the list is what the client may use in the
		// authenticated and selected states, the same in both.
		allowed := c.states.Has(int(s.state))
		if s.state != stateNotAuth {
			allowed = c.states&inLoggedIn != 0
		}
		for _, cp := range c.caps {
			if !allowed && !(cp.early && s.state == stateNotAuth) {
				continue
			}
			if cp.when != nil && !cp.when(s) {
				continue
			}
			atoms := []string{cp.name}
			if cp.value != nil {
				atoms = cp.value(s)
			}
			for _, a := range atoms {
				out = append(append(out, ' '), a...)
			}
		}
	}
	return string(out)
}
