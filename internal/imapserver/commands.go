package imapserver

import (
	"strconv"
	"strings"

	"postel/internal/imap"
)

// command is one entry of the command table.
type command struct {
	states states // the states it is allowed in
	run    func(*session, *imap.Command) error
	// seqNumbers: the non-UID form takes and returns message sequence
	// numbers, so no EXPUNGE may be sent while it runs (RFC 9051 §7.5.1).
	seqNumbers bool
}

// states is a set of session states.
type states uint8

const (
	inNotAuth  states = 1 << stateNotAuth
	inAuth     states = 1 << stateAuth
	inSelected states = 1 << stateSelected
	inAny             = inNotAuth | inAuth | inSelected
	inLoggedIn        = inAuth | inSelected
)

// commands is the command table: every command Postel serves and the
// states it is allowed in (RFC 9051 §6 and the extensions). The UID forms
// share their command's entry.
var commands = map[string]command{
	// Any state (RFC 9051 §6.1; ID, RFC 2971).
	"CAPABILITY": {states: inAny, run: (*session).cmdCapability},
	"NOOP":       {states: inAny, run: (*session).cmdNoop},
	"LOGOUT":     {states: inAny, run: (*session).cmdLogout},
	"ID":         {states: inAny, run: (*session).cmdID},

	// Not authenticated (RFC 9051 §6.2).
	"STARTTLS":     {states: inNotAuth, run: (*session).cmdStartTLS},
	"AUTHENTICATE": {states: inNotAuth, run: (*session).cmdAuthenticate},
	"LOGIN":        {states: inNotAuth, run: (*session).cmdLogin},

	// Authenticated (RFC 9051 §6.3), also allowed when selected.
	"ENABLE":       {states: inAuth, run: (*session).cmdEnable}, // RFC 5161 §3.1: before SELECT
	"SELECT":       {states: inLoggedIn, run: (*session).cmdSelect},
	"EXAMINE":      {states: inLoggedIn, run: (*session).cmdSelect},
	"CREATE":       {states: inLoggedIn, run: (*session).cmdCreate},
	"DELETE":       {states: inLoggedIn, run: (*session).cmdDelete},
	"RENAME":       {states: inLoggedIn, run: (*session).cmdRename},
	"SUBSCRIBE":    {states: inLoggedIn, run: (*session).cmdSubscribe},
	"UNSUBSCRIBE":  {states: inLoggedIn, run: (*session).cmdSubscribe},
	"LIST":         {states: inLoggedIn, run: (*session).cmdList},
	"LSUB":         {states: inLoggedIn, run: (*session).cmdList},
	"NAMESPACE":    {states: inLoggedIn, run: (*session).cmdNamespace},
	"STATUS":       {states: inLoggedIn, run: (*session).cmdStatus},
	"APPEND":       {states: inLoggedIn, run: (*session).cmdAppend},
	"IDLE":         {states: inLoggedIn, run: (*session).cmdIdle},
	"GETQUOTA":     {states: inLoggedIn, run: (*session).cmdGetQuota},
	"GETQUOTAROOT": {states: inLoggedIn, run: (*session).cmdGetQuotaRoot},
	"SETQUOTA":     {states: inLoggedIn, run: (*session).cmdSetQuota},
	"COMPRESS":     {states: inLoggedIn, run: (*session).cmdCompress},
	"SETACL":       {states: inLoggedIn, run: (*session).cmdSetACL},
	"DELETEACL":    {states: inLoggedIn, run: (*session).cmdSetACL},
	"GETACL":       {states: inLoggedIn, run: (*session).cmdGetACL},
	"LISTRIGHTS":   {states: inLoggedIn, run: (*session).cmdListRights},
	"MYRIGHTS":     {states: inLoggedIn, run: (*session).cmdMyRights},

	// Selected (RFC 9051 §6.4).
	"CHECK":    {states: inSelected, run: (*session).cmdNoop}, // RFC 3501 §6.4.1; rev2 has no CHECK
	"CLOSE":    {states: inSelected, run: (*session).cmdClose},
	"UNSELECT": {states: inSelected, run: (*session).cmdClose},
	"EXPUNGE":  {states: inSelected, run: (*session).cmdExpunge},
	"SEARCH":   {states: inSelected, run: (*session).cmdSearch, seqNumbers: true},
	"FETCH":    {states: inSelected, run: (*session).cmdFetch, seqNumbers: true},
	"STORE":    {states: inSelected, run: (*session).cmdStore, seqNumbers: true},
	"COPY":     {states: inSelected, run: (*session).cmdCopy},
	"MOVE":     {states: inSelected, run: (*session).cmdCopy},
	"SORT":     {states: inSelected, run: (*session).cmdSort, seqNumbers: true},
	"THREAD":   {states: inSelected, run: (*session).cmdThread, seqNumbers: true},
}

// loginAllowed reports whether LOGIN and AUTHENTICATE may be used: over
// TLS, or from loopback when the configuration allows plaintext there.
func (s *session) loginAllowed() bool {
	return s.tls || (s.srv.cfg.AllowPlaintextLoopback && s.remote.IsLoopback())
}

// capabilities lists what the session may use now (RFC 9051 §7.2.2).
// Before login: the protocol versions, how to log in and what helps
// logging in; after: every extension.
func (s *session) capabilities() string {
	caps := []string{"IMAP4rev2", "IMAP4rev1"}
	if s.state == stateNotAuth {
		if s.srv.tls != nil && !s.tls {
			caps = append(caps, "STARTTLS")
		}
		if s.loginAllowed() {
			for _, m := range s.srv.authn.Mechanisms() {
				caps = append(caps, "AUTH="+m)
			}
		} else {
			caps = append(caps, "LOGINDISABLED") // RFC 9051 §6.2.3
		}
		return strings.Join(append(caps, "SASL-IR", "LITERAL+", "ID", "ENABLE"), " ")
	}
	caps = append(caps,
		"LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "UIDPLUS", "MOVE",
		"CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS",
		"STATUS=SIZE", "ESEARCH", "SEARCHRES", "CONDSTORE", "QRESYNC",
		"APPENDLIMIT="+strconv.FormatInt(s.srv.cfg.AppendLimit, 10),
		"BINARY", "UTF8=ACCEPT", "MULTIAPPEND", "SORT", "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES",
		"QUOTA", "QUOTA=RES-STORAGE", "SAVEDATE", "WITHIN", "ACL", "RIGHTS="+newRights, "LIST-MYRIGHTS")
	if s.z == nil {
		caps = append(caps, "COMPRESS=DEFLATE")
	}
	return strings.Join(caps, " ")
}
