package message

import (
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file makes the preview text of a message for IMAP FETCH PREVIEW
// (RFC 8970): a short plain-text rendering of what the message says.

// Bounds of a preview.
const (
	// PreviewMaxChars is the longest preview RFC 8970 §3.3 allows, in
	// characters (Unicode code points): "MUST NOT output preview text
	// longer than 256 preview characters".
	PreviewMaxChars = 256
	// PreviewChars is the length previews are cut to: RFC 8970 §3.3
	// "SHOULD limit the length of the preview text to 200 preview
	// characters".
	PreviewChars = 200
	// previewBudget is how much decoded text of the part is read (HTML:
	// htmlFactor times as much), whatever the size of the message, so a
	// preview costs a bounded read.
	previewBudget = 16 << 10
)

// Preview returns the preview text of the message in r whose structure is
// root (RFC 8970 §3.3): taken from its first text/plain or text/html part
// that is not an attachment (text/plain preferred in a
// multipart/alternative), transfer-decoded and converted to UTF-8, HTML
// turned into text (markup, head, scripts, styles and quoted blocks
// removed), quoted lines (">") and the signature of plain text left out
// unless nothing else is left, control and invisible formatting characters
// removed, white space collapsed to single spaces, and cut to PreviewChars
// characters. It is "" when the message has no such part or it holds no
// text, or is encrypted (RFC 8970 §3.2: "no meaningful preview text can be
// generated ... the server MUST return a zero-length string"). The result
// is valid UTF-8 without CR, LF or NUL. Only reading r fails it.
func Preview(r io.ReaderAt, root *Part) (string, error) {
	p := previewPart(root, 0)
	if p == nil {
		return "", nil
	}
	x := &extractor{left: previewBudget}
	s := x.partDecoded(r, p)
	if x.err != nil {
		return "", x.err
	}
	if p.Subtype == "html" {
		s = htmlPreviewText(s)
	} else {
		s = plainPreviewText(s)
	}
	return previewCut(s, PreviewChars), nil
}

// previewPart finds the part a preview is made from, nil for none.
func previewPart(p *Part, depth int) *Part {
	if p == nil || depth > maxTextDepth || p.Disposition == "attachment" {
		return nil
	}
	switch p.Type {
	case "multipart":
		switch p.Subtype {
		case "encrypted": // RFC 1847 §2.2: nothing readable
			return nil
		case "signed": // RFC 1847 §2.1: the first part is the content
			if len(p.Parts) > 0 {
				return previewPart(p.Parts[0], depth+1)
			}
			return nil
		case "alternative":
			// RFC 2046 §5.1.4: the same content in several forms; plain
			// text needs no rendering.
			var html *Part
			for _, c := range p.Parts {
				if f := previewPart(c, depth+1); f != nil {
					if f.Subtype == "plain" {
						return f
					}
					if html == nil {
						html = f
					}
				}
			}
			return html
		}
		for _, c := range p.Parts {
			if f := previewPart(c, depth+1); f != nil {
				return f
			}
		}
		return nil
	case "text":
		if p.Subtype == "plain" || p.Subtype == "html" {
			return p
		}
	}
	return nil
}

// plainPreviewText leaves out of plain text the lines quoting another
// message (">") and the signature (after a "-- " line, RFC 3676 §4.3),
// unless nothing else is left, and PGP-encrypted text altogether.
func plainPreviewText(s string) string {
	if strings.HasPrefix(strings.TrimSpace(s), "-----BEGIN PGP MESSAGE-----") {
		return ""
	}
	var sb strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if line == "-- " || line == "--" {
			break
		}
		if strings.HasPrefix(line, ">") {
			continue
		}
		sb.WriteString(line)
		sb.WriteByte('\n')
	}
	if strings.TrimSpace(sb.String()) == "" {
		return s
	}
	return sb.String()
}

// htmlPreviewText is the text of an HTML document without its head and
// quoted blocks (blockquote), unless nothing else is left.
func htmlPreviewText(s string) string {
	s = dropElements(s, "head")
	s = dropElements(s, "title") // a stray title outside a head
	if t := stripHTML(dropElements(s, "blockquote")); strings.TrimSpace(t) != "" {
		return t
	}
	return stripHTML(s)
}

// dropElements removes the elements named name (lower case), nested ones
// included, from an HTML document, in one forward scan. A head left open
// ends at the body.
func dropElements(s, name string) string {
	lower := asciiLower(s)
	open, closing := "<"+name, "</"+name
	var sb strings.Builder
	depth, i := 0, 0
	for {
		j := strings.Index(lower[i:], "<")
		if j < 0 {
			break
		}
		j += i
		rest := lower[j:]
		isOpen := strings.HasPrefix(rest, open) && tagEnds(rest[len(open):])
		isClose := strings.HasPrefix(rest, closing) && tagEnds(rest[len(closing):])
		if name == "head" && depth > 0 && strings.HasPrefix(rest, "<body") && tagEnds(rest[len("<body"):]) {
			// The body ends a head left open (HTML's implied end tag).
			depth, isClose = 1, true
		}
		if !isOpen && !isClose {
			if depth == 0 {
				sb.WriteString(s[i : j+1])
			}
			i = j + 1
			continue
		}
		if depth == 0 {
			sb.WriteString(s[i:j])
		}
		end := skipPast(lower, j+1, ">")
		switch {
		case isOpen && !strings.HasSuffix(lower[j:end], "/>"):
			depth++
		case isClose && depth > 0:
			depth--
		}
		if depth == 0 {
			sb.WriteByte(' ')
		}
		i = end
	}
	if depth == 0 {
		sb.WriteString(s[i:])
	}
	return sb.String()
}

// tagEnds reports whether s, just after a tag name, ends the name.
func tagEnds(s string) bool {
	return s == "" || s[0] == '>' || s[0] == '/' || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f'
}

// previewCut removes control characters and invisible format characters
// (soft hyphen, zero-width spaces and joiners, byte order marks), turns
// every run of white space into one space, trims the ends and cuts the
// text to n characters at most, at a word break when one is near.
func previewCut(s string, n int) string {
	var sb strings.Builder
	count, space := 0, false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if space && sb.Len() > 0 {
			if count+1 >= n {
				break
			}
			sb.WriteByte(' ')
			count++
		}
		space = false
		if count >= n {
			// Cut inside a word: end at the last space if it is near.
			out := sb.String()
			if k := strings.LastIndexByte(out, ' '); k >= 0 && utf8.RuneCountInString(out[k:]) <= 30 {
				out = out[:k]
			}
			return strings.TrimSpace(out)
		}
		sb.WriteRune(r)
		count++
	}
	return strings.TrimSpace(sb.String())
}
