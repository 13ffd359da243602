package message

import (
	"bufio"
	"bytes"
	"io"
)

// The scanner reads the message line by line, once, and keeps a stack of
// the parts that are open at the current line: the root at the bottom, and
// above it the multipart children and encapsulated messages being read.
// Only the top frame can be in its header; every line is checked against
// the boundaries of the multiparts on the stack (innermost first), and a
// delimiter closes every frame above the multipart it belongs to.

// headCap is how many bytes of each line are kept for boundary matching.
const headCap = 512

// maxBoundary is the longest boundary accepted. RFC 2046 §5.1.1 allows 70
// characters; longer ones occur in the wild.
const maxBoundary = 200

// line is one line of the message: through its LF, or to the end.
type line struct {
	start  int64
	n      int64  // length including the line break
	head   []byte // the first headCap bytes; valid until the next read
	tailWS bool   // bytes past head are only white space and line break
	crlf   bool   // ends in CRLF
}

// blank reports whether the line is empty but for its line break, which
// ends a header block (RFC 5322 §2.1).
func (l *line) blank() bool {
	return l.n == int64(len(l.head)) && (string(l.head) == "\r\n" || string(l.head) == "\n")
}

// frame is a part open at the current line.
type frame struct {
	p        *Part
	level    int     // 0 for the outermost message's root
	header   bool    // the part's header is being read
	boundary string  // multipart boundary when its children are parsed
	closed   bool    // close delimiter seen: the rest is epilogue
	bodyLine int64   // lines before BodyStart
	msg      *Parsed // set for the root part of a message
	digest   bool    // a child of multipart/digest (RFC 2046 §5.1.5)
}

type scanner struct {
	br  *bufio.Reader
	lim Limits

	off       int64 // offset of the next unread byte
	lines     int64 // lines that start before the current line
	prevStart int64 // start of the previous line
	prevCRLF  bool  // the previous line ended in CRLF
	head      []byte

	hdr     []byte // the header block being read, at most lim.MaxHeaderBytes
	hdrFull bool   // the header block outgrew lim.MaxHeaderBytes

	stack  []*frame
	nparts int
}

func newScanner(br *bufio.Reader, lim Limits) *scanner {
	return &scanner{br: br, lim: lim, head: make([]byte, 0, headCap), prevStart: -1}
}

func (s *scanner) top() *frame { return s.stack[len(s.stack)-1] }

func (s *scanner) push(f *frame) {
	s.stack = append(s.stack, f)
	s.hdr, s.hdrFull = s.hdr[:0], false
}

// run scans the whole message and returns its structure.
func (s *scanner) run() (*Parsed, error) {
	msg := &Parsed{Root: &Part{}}
	s.nparts = 1
	s.push(&frame{p: msg.Root, header: true, msg: msg})
	for {
		ln, err := s.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if i, closeDelim, ok := s.matchBoundary(&ln); ok {
			s.delimiter(i, closeDelim, &ln)
		} else if f := s.top(); f.header && ln.blank() {
			s.endHeader(f, ln.start+ln.n, s.lines+1, true)
		}
		s.lines++
		s.prevStart, s.prevCRLF = ln.start, ln.crlf
	}
	for i := len(s.stack) - 1; i >= 0; i-- {
		s.closeFrame(s.stack[i], s.off)
	}
	return msg, nil
}

// readLine reads the next line, collecting it into the header block when
// the top frame is in its header. It returns io.EOF at the end.
func (s *scanner) readLine() (line, error) {
	ln := line{start: s.off, head: s.head[:0], tailWS: true}
	collect := s.top().header && !s.hdrFull
	mark := len(s.hdr)
	var last byte // last byte of the previous piece
	for {
		frag, err := s.br.ReadSlice('\n')
		if n := len(frag); n > 0 {
			s.off += int64(n)
			ln.n += int64(n)
			k := min(headCap-len(ln.head), n)
			ln.head = append(ln.head, frag[:k]...)
			if ln.tailWS {
				for _, c := range frag[k:] {
					if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
						ln.tailWS = false
						break
					}
				}
			}
			if collect {
				if int64(len(s.hdr)+n) > s.lim.MaxHeaderBytes {
					// Keep whole fields only; the rest of the block is skipped.
					s.hdr, s.hdrFull, collect = s.hdr[:mark], true, false
					if c := ln.head[0]; c == ' ' || c == '\t' {
						s.hdr = cutLastField(s.hdr)
					}
				} else {
					s.hdr = append(s.hdr, frag...)
				}
			}
			if frag[n-1] == '\n' {
				prev := last
				if n >= 2 {
					prev = frag[n-2]
				}
				ln.crlf = prev == '\r'
			}
			last = frag[n-1]
		}
		switch err {
		case nil:
			return ln, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if ln.n > 0 {
				return ln, nil
			}
			return ln, io.EOF
		default:
			return ln, err
		}
	}
}

// cutLastField removes the last field, which a continuation line that did
// not fit would have continued, from a header block of whole lines.
func cutLastField(hdr []byte) []byte {
	for end := len(hdr); end > 0; {
		start := bytes.LastIndexByte(hdr[:end-1], '\n') + 1
		if c := hdr[start]; c != ' ' && c != '\t' {
			return hdr[:start]
		}
		end = start
	}
	return hdr[:0]
}

// matchBoundary finds the innermost open multipart whose boundary delimiter
// the line is (RFC 2046 §5.1.1: "--" boundary, "--" for the close
// delimiter, then optional linear white space).
func (s *scanner) matchBoundary(ln *line) (int, bool, bool) {
	h := ln.head
	if len(h) < 3 || h[0] != '-' || h[1] != '-' || !ln.tailWS {
		return 0, false, false
	}
	h = h[2:]
	for i := len(s.stack) - 1; i >= 0; i-- {
		f := s.stack[i]
		b := f.boundary
		if b == "" || f.closed || len(h) < len(b) || string(h[:len(b)]) != b {
			continue
		}
		rest := h[len(b):]
		closeDelim := len(rest) >= 2 && rest[0] == '-' && rest[1] == '-'
		if closeDelim {
			rest = rest[2:]
		}
		if onlySpace(rest) {
			return i, closeDelim, true
		}
	}
	return 0, false, false
}

func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// delimiter handles a boundary delimiter line of the multipart at
// s.stack[i]: the parts open inside it end, and a new child starts after the
// line unless it is the close delimiter or the part budget is spent.
func (s *scanner) delimiter(i int, closeDelim bool, ln *line) {
	// RFC 2046 §5.1.1: the line break before the delimiter belongs to it.
	e := ln.start - 1
	if s.prevCRLF {
		e--
	}
	e = max(e, 0)
	for j := len(s.stack) - 1; j > i; j-- {
		s.closeFrame(s.stack[j], e)
	}
	s.stack = s.stack[:i+1]
	c := s.stack[i]
	if closeDelim {
		c.closed = true
		return
	}
	if s.nparts >= s.lim.MaxParts {
		return
	}
	s.nparts++
	p := &Part{HeaderStart: ln.start + ln.n}
	c.p.Parts = append(c.p.Parts, p)
	s.push(&frame{p: p, level: c.level + 1, header: true, digest: c.p.Subtype == "digest"})
}

// endHeader ends the header of f's part at bodyStart, applies its fields,
// and, when open, prepares to read the part's children.
func (s *scanner) endHeader(f *frame, bodyStart, bodyLine int64, open bool) {
	f.header = false
	p := f.p
	p.BodyStart = bodyStart
	f.bodyLine = bodyLine
	h := parseFields(s.hdr)
	s.hdr = s.hdr[:0]
	partHeader(p, &h, f.digest)
	if f.msg != nil {
		messageHeader(f.msg, &h, f.level == 0)
	}
	if !open || f.level >= s.lim.MaxDepth {
		return
	}
	switch {
	case p.Type == "multipart":
		f.boundary = p.Params["boundary"]
	case isMessage(p) && identityEncoding(p.Encoding) && s.nparts < s.lim.MaxParts:
		// RFC 2046 §5.2.1: an encapsulated message is not encoded, so its
		// bytes are a message; an encoded one stays opaque.
		s.nparts++
		m := &Parsed{Root: &Part{HeaderStart: bodyStart}}
		p.Message = m
		s.push(&frame{p: m.Root, level: f.level + 1, header: true, msg: m})
	}
}

// closeFrame ends f's part at e, or later if its header or children reach
// further.
func (s *scanner) closeFrame(f *frame, e int64) {
	p := f.p
	if f.header {
		s.endHeader(f, max(e, p.HeaderStart), 0, false)
	}
	end := max(e, p.BodyStart)
	if n := len(p.Parts); n > 0 {
		end = max(end, p.Parts[n-1].End)
	}
	if p.Message != nil {
		end = max(end, p.Message.Root.End)
	}
	p.End = end
	if end > p.BodyStart {
		// BodyStart starts a line; the lines before End are those before
		// the current line, less the previous line if End is its start.
		p.Lines = s.lines - f.bodyLine
		if end == s.prevStart {
			p.Lines--
		}
	}
	if p.Type == "multipart" && len(p.Parts) == 0 {
		p.Parts = []*Part{opaquePart(p)}
	}
	if isMessage(p) && p.Message == nil {
		p.Message = &Parsed{Root: opaquePart(p), Size: p.End - p.BodyStart}
	}
	if f.msg != nil {
		f.msg.HeaderSize = p.BodyStart - p.HeaderStart
		f.msg.Size = p.End - p.HeaderStart
	}
}

// opaquePart is a header-less text/plain part (RFC 2045 §5.2 defaults)
// spanning p's body: it stands in for the content of a multipart or
// message part that could not be parsed.
func opaquePart(p *Part) *Part {
	return &Part{
		Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"}, Encoding: "7BIT",
		HeaderStart: p.BodyStart, BodyStart: p.BodyStart, End: p.End, Lines: p.Lines,
	}
}

func isMessage(p *Part) bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

func identityEncoding(enc string) bool {
	return enc == "7BIT" || enc == "8BIT" || enc == "BINARY"
}
