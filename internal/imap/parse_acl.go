package imap

// The commands of the ACL extension (RFC 4314 §3, grammar §7):
//
//	setacl     = "SETACL" SP mailbox SP identifier SP mod-rights
//	deleteacl  = "DELETEACL" SP mailbox SP identifier
//	getacl     = "GETACL" SP mailbox
//	listrights = "LISTRIGHTS" SP mailbox SP identifier
//	myrights   = "MYRIGHTS" SP mailbox
//	identifier = astring
//	mod-rights = astring   ; +rights / -rights / rights

// ACLOp says how SETACL combines the rights given with those held.
type ACLOp int

const (
	ACLReplace ACLOp = iota // rights
	ACLAdd                  // +rights
	ACLRemove               // -rights
)

// ACLArgs: SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS (RFC 4314 §3).
// Identifier is as sent; Rights is mod-rights without its "+" or "-"
// (Op), letters not checked here: the server answers BAD for a right it
// does not know (RFC 4314 §3.1).
type ACLArgs struct {
	Mailbox    string
	Identifier string // SETACL, DELETEACL, LISTRIGHTS
	Rights     string // SETACL
	Op         ACLOp  // SETACL
}

// aclArgs reads the arguments of the ACL command name.
func (r *Reader) aclArgs(name string) *ACLArgs {
	a := &ACLArgs{}
	r.sp()
	a.Mailbox = r.mailbox()
	if name == "GETACL" || name == "MYRIGHTS" {
		return a
	}
	r.sp()
	a.Identifier = r.astring()
	if len(a.Identifier) > 320 {
		r.bad("identifier too long")
	}
	if name != "SETACL" {
		return a
	}
	r.sp()
	rights := r.astring()
	if rights != "" {
		switch rights[0] {
		case '+':
			a.Op, rights = ACLAdd, rights[1:]
		case '-':
			a.Op, rights = ACLRemove, rights[1:]
		}
	}
	if len(rights) > 64 {
		r.bad("rights too long")
	}
	a.Rights = rights
	return a
}
