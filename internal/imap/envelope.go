package imap

import (
	"mime"
	"slices"
	"strings"
	"unicode/utf8"

	"postel/internal/message"
)

// text writes unstructured header text (a subject, a description) as an
// nstring. Outside UTF8 mode, text with 8-bit octets is RFC 2047 encoded
// (UTF-8, invalid sequences replaced), so that ENVELOPE and BODYSTRUCTURE
// stay 7-bit as RFC 3501 clients expect.
func (w *Writer) text(s string) {
	if s == "" {
		w.Nil()
		return
	}
	w.encoded(s, mime.QEncoding)
}

// phrase is text for a display name or a parameter value, which the "B"
// encoding keeps free of the quotes and specials a client may parse.
func (w *Writer) phrase(s string) {
	if s == "" {
		w.Nil()
		return
	}
	w.encoded(s, mime.BEncoding)
}

// encoded writes s as a string, RFC 2047 encoded with enc when it has
// 8-bit octets outside UTF8 mode.
func (w *Writer) encoded(s string, enc mime.WordEncoder) {
	// No string carries NUL (see String); its stand-in is 8-bit, so it
	// is replaced before the choice of encoding.
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if !w.utf8 && has8bit(s) {
		s = enc.Encode("utf-8", strings.ToValidUTF8(s, "\uFFFD"))
	}
	w.String(s)
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// Envelope writes an ENVELOPE (RFC 9051 §7.5.2): "(" date SP subject SP
// from SP sender SP reply-to SP to SP cc SP bcc SP in-reply-to SP
// message-id ")", empty values as NIL.
func (w *Writer) Envelope(e message.Envelope) {
	w.Open()
	w.text(e.Date)
	w.SP()
	w.text(e.Subject)
	for _, l := range [...][]message.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		w.SP()
		w.addresses(l)
	}
	w.SP()
	w.NString(e.InReplyTo)
	w.SP()
	w.NString(e.MessageID)
	w.Close()
}

// addresses writes an address list: "(" 1*address ")" or NIL. An address
// is "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"; group
// markers (message.Address) come out as RFC 9051 wants them: (NIL NIL
// "group" NIL) and (NIL NIL NIL NIL).
func (w *Writer) addresses(l []message.Address) {
	if len(l) == 0 {
		w.Nil()
		return
	}
	w.Open()
	for _, a := range l {
		w.Open()
		w.phrase(a.Name)
		w.SP()
		w.NString(a.Route) // addr-adl (RFC 3501 §7.4.2: the source route)
		w.SP()
		w.NString(a.Mailbox)
		w.SP()
		w.NString(a.Host)
		w.Close()
	}
	w.Close()
}

// BodyStructure writes the body structure of p: BODYSTRUCTURE with
// extended, BODY without (RFC 9051 §7.5.2). Types, subtypes, parameter
// names and disposition types are upper case; parameters are sorted by
// name. Body sizes are End-BodyStart; line counts are given for text/*
// and message/rfc822 or message/global, which also carry the ENVELOPE
// and structure of the encapsulated message.
func (w *Writer) BodyStructure(p *message.Part, extended bool) {
	w.Open()
	if p.Type == "multipart" && len(p.Parts) > 0 {
		for _, c := range p.Parts {
			w.BodyStructure(c, extended)
		}
		w.SP()
		w.upper(p.Subtype)
		if extended {
			// body-ext-mpart: body-fld-param SP body-fld-dsp SP
			// body-fld-lang SP body-fld-loc
			w.SP()
			w.params(p.Params)
			w.SP()
			w.extension(p)
		}
		w.Close()
		return
	}
	w.upper(p.Type)
	w.SP()
	w.upper(p.Subtype)
	// body-fields: param SP id SP desc SP enc SP octets
	w.SP()
	w.params(p.Params)
	w.SP()
	w.NString(p.ID)
	w.SP()
	w.text(p.Description)
	w.SP()
	w.upper(p.Encoding)
	w.SP()
	w.Number(uint64(max(p.End-p.BodyStart, 0)))
	switch {
	case isMessagePart(p) && p.Message != nil && p.Message.Root != nil:
		w.SP()
		w.Envelope(p.Message.Envelope)
		w.SP()
		w.BodyStructure(p.Message.Root, extended)
		w.SP()
		w.Number(uint64(p.Lines))
	case p.Type == "text":
		w.SP()
		w.Number(uint64(p.Lines))
	}
	if extended {
		// body-ext-1part: body-fld-md5 SP body-fld-dsp SP body-fld-lang
		// SP body-fld-loc
		w.SP()
		w.NString(p.MD5)
		w.SP()
		w.extension(p)
	}
	w.Close()
}

func isMessagePart(p *message.Part) bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

// extension writes body-fld-dsp SP body-fld-lang SP body-fld-loc.
func (w *Writer) extension(p *message.Part) {
	if p.Disposition == "" {
		w.Nil()
	} else {
		w.Open()
		w.upper(p.Disposition)
		w.SP()
		w.params(p.DispositionParams)
		w.Close()
	}
	w.SP()
	switch len(p.Language) {
	case 0:
		w.Nil()
	case 1:
		w.String(p.Language[0])
	default:
		w.Open()
		for i, l := range p.Language {
			if i > 0 {
				w.SP()
			}
			w.String(l)
		}
		w.Close()
	}
	w.SP()
	w.NString(p.Location)
}

// params writes body-fld-param: "(" string SP string *(SP string SP
// string) ")" or NIL.
func (w *Writer) params(m map[string]string) {
	if len(m) == 0 {
		w.Nil()
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.Open()
	for i, k := range keys {
		if i > 0 {
			w.SP()
		}
		w.upper(k)
		w.SP()
		w.encoded(m[k], mime.BEncoding)
	}
	w.Close()
}

// upper writes s upper-cased as a string.
func (w *Writer) upper(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			w.String(strings.ToUpper(s))
			return
		}
	}
	w.String(s)
}
