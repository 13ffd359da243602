package imap

// previewMods reads the optional modifiers of the PREVIEW fetch item
// (RFC 8970 §6: fetch-att =/ "PREVIEW" [SP "(" preview-mod *(SP
// preview-mod) ")"], preview-mod = "LAZY") and reports whether LAZY was
// given. A list that follows PREVIEW is its modifier list only when it
// opens with LAZY: "FETCH 1 PREVIEW (CHANGEDSINCE 5)" is PREVIEW followed
// by the FETCH modifiers of RFC 7162.
func (r *Reader) previewMods() bool {
	save := r.pos
	if !r.take(' ') || !r.take('(') || !r.keyword("LAZY") {
		r.pos = save
		return false
	}
	r.pos = save + 1
	r.parenList(false, func() {
		if !r.keyword("LAZY") {
			r.syntax("unknown PREVIEW modifier")
		}
	})
	return true
}
