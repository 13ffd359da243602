package imap

// MaxObjectID is the longest objectid (RFC 8474 §7: 1*255).
const MaxObjectID = 255

// objectIDArg reads SP objectid, the argument of the EMAILID and THREADID
// search keys (RFC 8474 §6, §7: search-key =/ "EMAILID" SP objectid /
// "THREADID" SP objectid).
func (r *Reader) objectIDArg() string {
	r.sp()
	return r.objectID()
}

// objectID reads objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474
// §7).
func (r *Reader) objectID() string {
	start := r.pos
	for r.pos < len(r.line) && IsObjectIDChar(r.line[r.pos]) {
		r.pos++
		if r.pos-start > MaxObjectID {
			r.bad("objectid longer than 255 characters")
		}
	}
	if r.pos == start {
		r.syntax("expected an objectid")
	}
	return string(r.line[start:r.pos])
}

// IsObjectIDChar reports whether c may be in an objectid: ALPHA / DIGIT /
// "_" / "-" (RFC 8474 §7).
func IsObjectIDChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }
