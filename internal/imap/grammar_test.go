package imap

import "bufio"

// testSyntax is the grammar the parser tests read commands with: the
// commands Postel serves, as imapserver's command table names them.
var testSyntax = map[string]Syntax{
	"CAPABILITY": SyntaxNone, "NOOP": SyntaxNone, "LOGOUT": SyntaxNone, "STARTTLS": SyntaxNone,
	"NAMESPACE": SyntaxNone, "IDLE": SyntaxNone, "CHECK": SyntaxNone, "CLOSE": SyntaxNone, "UNSELECT": SyntaxNone,
	"EXPUNGE": SyntaxExpunge, "AUTHENTICATE": SyntaxAuthenticate, "LOGIN": SyntaxLogin, "ENABLE": SyntaxEnable,
	"SELECT": SyntaxSelect, "EXAMINE": SyntaxSelect, "CREATE": SyntaxCreate,
	"DELETE": SyntaxMailbox, "SUBSCRIBE": SyntaxMailbox, "UNSUBSCRIBE": SyntaxMailbox, "GETQUOTAROOT": SyntaxMailbox,
	"RENAME": SyntaxRename, "LIST": SyntaxList, "LSUB": SyntaxLsub, "STATUS": SyntaxStatus, "APPEND": SyntaxAppend,
	"SEARCH": SyntaxSearch, "FETCH": SyntaxFetch, "STORE": SyntaxStore, "COPY": SyntaxCopy, "MOVE": SyntaxCopy,
	"SORT": SyntaxSort, "THREAD": SyntaxThread, "GETQUOTA": SyntaxGetQuota, "SETQUOTA": SyntaxSetQuota,
	"ID": SyntaxID, "COMPRESS": SyntaxCompress, "SETACL": SyntaxACL, "DELETEACL": SyntaxACL, "GETACL": SyntaxACL, "LISTRIGHTS": SyntaxACL, "MYRIGHTS": SyntaxACL, "REPLACE": SyntaxReplace, "GETMETADATA": SyntaxGetMetadata, "SETMETADATA": SyntaxSetMetadata, "NOTIFY": SyntaxNotify, "CANCELUPDATE": SyntaxCancelUpdate,
}

var testUID = map[string]bool{
	"COPY": true, "MOVE": true, "REPLACE": true, "FETCH": true, "SEARCH": true, "STORE": true, "EXPUNGE": true, "SORT": true, "THREAD": true,
}

func testGrammar(name string) (Syntax, bool, bool) {
	syn, ok := testSyntax[name]
	return syn, testUID[name], ok
}

// newTestReader is NewReader with the test grammar.
func newTestReader(br *bufio.Reader, opts ReaderOptions) *Reader {
	opts.Grammar = testGrammar
	return NewReader(br, opts)
}
