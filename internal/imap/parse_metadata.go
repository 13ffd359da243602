package imap

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// METADATA (RFC 5464 §5): the arguments of GETMETADATA and SETMETADATA.
// Entry names are taken as astrings; their own rules (RFC 5464 §3.2) are
// the server's to check.

// GetMetadataArgs: GETMETADATA [options] mailbox entries. Mailbox "" is
// the server.
type GetMetadataArgs struct {
	Mailbox string
	Entries []string
	MaxSize int64 // -1: no MAXSIZE option
	Depth   int   // 0, 1, or -1 for "infinity"
}

// SetMetadataArgs: SETMETADATA mailbox (entry value ...). A nil Value is
// NIL: remove the entry.
type SetMetadataArgs struct {
	Mailbox string
	Entries []MetadataValue
}

// MetadataValue is one entry and its value (nil for NIL).
type MetadataValue struct {
	Name  string
	Value []byte
}

// getMetadata: "GETMETADATA" [SP getmetadata-options] SP mailbox SP
// entries; getmetadata-options = "(" getmetadata-option *(SP
// getmetadata-option) ")", the options MAXSIZE number and DEPTH ("0" /
// "1" / "infinity") (RFC 5464 §4.2); entries = entry / "(" entry *(SP
// entry) ")" (errata 3868: several entries go in parentheses).
func (r *Reader) getMetadata() *GetMetadataArgs {
	a := &GetMetadataArgs{MaxSize: -1}
	r.sp()
	before := r.peek() == '('
	if before {
		r.getMetadataOptions(a)
		r.sp()
	}
	a.Mailbox = r.mailbox()
	r.sp()
	// The options after the mailbox, as the drafts before RFC 5464 had
	// them and some clients (go-imap's) still send them: an entry
	// starts with "/", an option with a letter.
	if !before && r.peek() == '(' && r.pos+1 < len(r.line) && r.line[r.pos+1] != '/' && r.line[r.pos+1] != '"' && r.line[r.pos+1] != '{' {
		r.getMetadataOptions(a)
		r.sp()
	}
	if r.peek() == '(' {
		r.parenList(false, func() { a.Entries = append(a.Entries, r.astring()) })
	} else {
		r.item()
		a.Entries = []string{r.astring()}
	}
	return a
}

// getMetadataOptions reads getmetadata-options into a.
func (r *Reader) getMetadataOptions(a *GetMetadataArgs) {
	seenDepth := false
	r.parenList(false, func() {
		switch o := r.word(); o {
		case "MAXSIZE":
			if a.MaxSize >= 0 {
				r.bad("MAXSIZE given twice")
			}
			r.sp()
			a.MaxSize = int64(r.number())
		case "DEPTH":
			if seenDepth {
				r.bad("DEPTH given twice")
			}
			seenDepth = true
			r.sp()
			switch d := strings.ToUpper(r.atom()); d {
			case "0":
				a.Depth = 0
			case "1":
				a.Depth = 1
			case "INFINITY":
				a.Depth = -1
			default:
				r.bad("DEPTH must be 0, 1 or infinity")
			}
		default:
			r.bad("unknown GETMETADATA option " + o)
		}
	})
}

// setMetadata: "SETMETADATA" SP mailbox SP "(" entry-value *(SP
// entry-value) ")"; entry-value = entry SP value; value = nstring /
// literal8 (RFC 5464 §4.3, §5).
func (r *Reader) setMetadata() *SetMetadataArgs {
	a := &SetMetadataArgs{}
	r.sp()
	a.Mailbox = r.mailbox()
	r.sp()
	r.parenList(false, func() {
		name := r.astring()
		r.sp()
		a.Entries = append(a.Entries, MetadataValue{Name: name, Value: r.metadataValue()})
	})
	return a
}

// metadataValue reads a value: NIL (nil), a quoted string, a literal or a
// literal8 (which may hold NUL). Values are held in memory: a literal is
// bounded by what the command may hold (MaxCommand), not by MaxLiteral,
// so that a value over the server's METADATA limit reaches the server,
// which answers NO [METADATA MAXSIZE n] (RFC 5464 §4.3).
func (r *Reader) metadataValue() []byte {
	switch r.peek() {
	case '"':
		return []byte(r.quoted())
	case '{', '~':
	default:
		if r.keyword("NIL") {
			return nil
		}
		r.syntax("expected NIL, a string or a literal")
	}
	size, sync, binary := r.literalHeader(true)
	if r.held+size > r.opts.MaxCommand {
		r.tooBig(sync, fmt.Sprintf("metadata value of %d octets too large (limit %d)", size, r.opts.MaxCommand-r.held))
	}
	if sync {
		r.continueLiteral()
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		panic(ioFailure{unexpectedEOF(err)})
	}
	r.held += size
	r.nextLine()
	// RFC 9051 §9: a literal is CHAR8 (no NUL); a literal8 may hold any
	// octet (RFC 3516).
	if !binary && bytes.IndexByte(buf, 0) >= 0 {
		r.bad("NUL octet in literal: use a literal8 (~{n})")
	}
	return buf
}
