package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
)

func parseString(t *testing.T, s string, lim Limits) *Parsed {
	t.Helper()
	raw := []byte(s)
	p, err := Parse(bytes.NewReader(raw), int64(len(raw)), lim)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkParsed(raw, p, lim.withDefaults()); err != nil {
		t.Fatal(err)
	}
	return p
}

// nestedMultipart returns a message of n multiparts nested in one another
// around a text part.
func nestedMultipart(n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
	}
	sb.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&sb, "--b%d--\r\n", i)
	}
	return sb.String()
}

func TestDepthLimit(t *testing.T) {
	tests := []struct {
		levels, maxDepth int
	}{
		{40, 0}, // DefaultLimits: 32
		{40, 32},
		{5, 2},
		{3, 3}, // within the limit
		{1, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.levels, tt.maxDepth), func(t *testing.T) {
			s := nestedMultipart(tt.levels)
			p := parseString(t, s, Limits{MaxDepth: tt.maxDepth})
			limit := Limits{MaxDepth: tt.maxDepth}.withDefaults().MaxDepth
			pt := p.Root
			for level := 0; level < min(tt.levels, limit); level++ {
				if pt.Type != "multipart" || len(pt.Parts) != 1 || pt.Params["boundary"] != fmt.Sprintf("b%d", level) {
					t.Fatalf("level %d: %s/%s with %d parts", level, pt.Type, pt.Subtype, len(pt.Parts))
				}
				pt = pt.Parts[0]
			}
			body := s[pt.BodyStart:pt.End]
			if tt.levels <= limit {
				if pt.Type != "text" || body != "deep" {
					t.Fatalf("innermost part %s/%s %q, want text/plain \"deep\"", pt.Type, pt.Subtype, body)
				}
				return
			}
			// The multipart at the limit is kept opaque: one synthetic part spanning its body.
			if pt.Type != "multipart" || len(pt.Parts) != 1 {
				t.Fatalf("part at the limit: %s/%s with %d parts", pt.Type, pt.Subtype, len(pt.Parts))
			}
			op := pt.Parts[0]
			if op.Type != "text" || op.HeaderStart != pt.BodyStart || op.BodyStart != pt.BodyStart || op.End != pt.End || len(op.Parts) != 0 {
				t.Fatalf("opaque part %+v in %+v", op, pt)
			}
			wantBody := fmt.Sprintf("--b%d\r\n", limit)
			if !strings.HasPrefix(body, wantBody) || !strings.Contains(body, "deep") || !strings.HasSuffix(body, fmt.Sprintf("--b%d--", limit)) {
				t.Fatalf("opaque body %q", body)
			}
		})
	}
}

func TestDepthLimitMessages(t *testing.T) {
	const n = 40
	s := strings.Repeat("Content-Type: message/rfc822\r\n\r\n", n) + "Subject: inner\r\n\r\nbody\r\n"
	p := parseString(t, s, DefaultLimits())
	pt := p.Root
	for level := 0; level < 32; level++ {
		if !isMessage(pt) || pt.Message == nil || pt.Message.Root.HeaderStart != pt.BodyStart {
			t.Fatalf("level %d: %+v", level, pt)
		}
		pt = pt.Message.Root
	}
	// The message at the limit is opaque: no header, its whole body as text.
	m := pt.Message
	if !isMessage(pt) || m == nil || m.HeaderSize != 0 || m.Root.Type != "text" ||
		m.Root.HeaderStart != pt.BodyStart || m.Root.BodyStart != pt.BodyStart || m.Root.End != int64(len(s)) {
		t.Fatalf("message at the limit: %+v, %+v", pt, m)
	}
	if m.Envelope.Subject != "" {
		t.Errorf("opaque message has subject %q", m.Envelope.Subject)
	}
}

func TestPartsLimit(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("Content-Type: multipart/mixed; boundary=x\r\n\r\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "--x\r\nContent-Type: text/plain\r\n\r\npart %d\r\n", i)
	}
	sb.WriteString("--x--\r\n")
	s := sb.String()
	p := parseString(t, s, Limits{MaxParts: 10})
	// The root counts: nine children, and the rest stays in the root's body.
	if len(p.Root.Parts) != 9 {
		t.Fatalf("%d children, want 9", len(p.Root.Parts))
	}
	for i, c := range p.Root.Parts {
		if got, want := s[c.BodyStart:c.End], fmt.Sprintf("part %d", i); got != want {
			t.Errorf("child %d: body %q, want %q", i, got, want)
		}
	}
	if p.Root.End != int64(len(s)) {
		t.Errorf("root ends at %d, want %d", p.Root.End, len(s))
	}

	// An encapsulated message beyond the budget is opaque.
	s = "Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nbody\r\n"
	p = parseString(t, s, Limits{MaxParts: 1})
	if m := p.Root.Message; m.Root.HeaderStart != p.Root.BodyStart || m.Root.BodyStart != p.Root.BodyStart || m.Envelope.Subject != "" {
		t.Errorf("message beyond the parts limit: %+v", m)
	}
	p = parseString(t, s, DefaultLimits())
	if m := p.Root.Message; m.Envelope.Subject != "x" || m.HeaderSize != int64(len("Subject: x\r\n\r\n")) {
		t.Errorf("message within the parts limit: %+v", m)
	}
}

func TestHeaderLimit(t *testing.T) {
	filler := strings.Repeat("X-Filler: "+strings.Repeat("f", 90)+"\r\n", 20) // 2040 bytes
	tests := []struct {
		name, header string
		subject      string
		typ          string
	}{
		{"within", "Subject: kept\r\nContent-Type: text/html\r\n", "kept", "text/html"},
		{"fields after the limit", "Subject: kept\r\n" + filler + "Content-Type: text/html\r\n", "kept", "text/plain"},
		{"one long field", "Subject: " + strings.Repeat("s", 2000) + "\r\nContent-Type: text/html\r\n", "", "text/plain"},
		{"long folded field", "Content-Type: text/html\r\nSubject: a\r\n" + strings.Repeat(" b\r\n", 600), "", "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.header + "\r\nbody\r\n"
			p := parseString(t, s, Limits{MaxHeaderBytes: 1024})
			if p.Subject != tt.subject || p.Root.Type+"/"+p.Root.Subtype != tt.typ {
				t.Errorf("subject %q, type %s/%s; want %q, %s", p.Subject, p.Root.Type, p.Root.Subtype, tt.subject, tt.typ)
			}
			if want := int64(len(tt.header) + 2); p.HeaderSize != want || s[p.Root.BodyStart:p.Root.End] != "body\r\n" {
				t.Errorf("header size %d, want %d", p.HeaderSize, want)
			}
		})
	}
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("y", 3*readBufSize+17)
	tests := []struct {
		name   string
		body   string
		bodies []string
	}{
		{"long body line", "--b\r\n\r\n" + long + "\r\n--b\r\n\r\nshort\r\n--b--\r\n", []string{long, "short"}},
		{"long padding after delimiter", "--b" + strings.Repeat(" ", 2*headCap) + "\r\n\r\none\r\n--b--" + strings.Repeat("\t", readBufSize+1) + "\r\nepilogue\r\n", []string{"one"}},
		{"padding then text is no delimiter", "--b\r\n\r\none\r\n--b" + strings.Repeat(" ", 2*headCap) + "x\r\n--b--\r\n", []string{"one\r\n--b" + strings.Repeat(" ", 2*headCap) + "x"}},
		{"long header line", "--b\r\nX-Long: " + long + "\r\nContent-Type: text/html\r\n\r\nhtml\r\n--b--\r\n", []string{"html"}},
		{"no final line break", "--b\r\n\r\nlast\r\n--b--", []string{"last"}},
		{"delimiter at the end", "--b\r\n\r\nlast\r\n--b", []string{"last", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + tt.body
			p := parseString(t, s, DefaultLimits())
			var got []string
			for _, c := range p.Root.Parts {
				got = append(got, s[c.BodyStart:c.End])
			}
			if len(got) != len(tt.bodies) {
				t.Fatalf("%d parts, want %d", len(got), len(tt.bodies))
			}
			for i := range got {
				if got[i] != tt.bodies[i] {
					t.Errorf("part %d: %d bytes %.40q, want %d bytes %.40q", i+1, len(got[i]), got[i], len(tt.bodies[i]), tt.bodies[i])
				}
			}
		})
	}
}

// TestDegenerate covers empty and odd inputs, checking the invariants.
func TestDegenerate(t *testing.T) {
	tests := []struct {
		in         string
		headerSize int64
		typ        string
	}{
		{"", 0, "text/plain"},
		{"\r\n", 2, "text/plain"},
		{"\n", 1, "text/plain"},
		{"Subject: only a header", 22, "text/plain"},
		{"Subject: x\r\n", 12, "text/plain"},
		{" leading space\r\n\r\nb", 18, "text/plain"},
		{"Content-Type: multipart/mixed; boundary=b\r\n", 43, "multipart/mixed"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b", 45, "multipart/mixed"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b--", 45, "multipart/mixed"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n--b--\r\n", 45, "multipart/mixed"},
		{"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n--b\r\n\r\n", 45, "multipart/mixed"},
		{"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQpib2R5\r\n", 67, "message/rfc822"},
		{"Content-Type: multipart/mixed; boundary=\"" + strings.Repeat("b", maxBoundary+1) + "\"\r\n\r\n", 247, "text/plain"},
		{"\r\r\n\n", 4, "text/plain"}, // "\r\r\n" is no blank line
	}
	for _, tt := range tests {
		p := parseString(t, tt.in, DefaultLimits())
		if p.HeaderSize != tt.headerSize || p.Root.Type+"/"+p.Root.Subtype != tt.typ {
			t.Errorf("Parse(%q): header size %d, type %s/%s; want %d, %s", tt.in, p.HeaderSize, p.Root.Type, p.Root.Subtype, tt.headerSize, tt.typ)
		}
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r failingReader) ReadAt(b []byte, off int64) (int, error) {
	if off >= int64(len(r.data)) {
		return 0, r.err
	}
	n := copy(b, r.data[off:])
	return n, nil
}

func TestParseErrors(t *testing.T) {
	data := []byte("Subject: x\r\n\r\nbody\r\n")
	errDisk := errors.New("disk on fire")
	if _, err := Parse(failingReader{data, errDisk}, int64(len(data))+10, DefaultLimits()); !errors.Is(err, errDisk) {
		t.Errorf("failing reader: %v, want %v", err, errDisk)
	}
	if _, err := Parse(bytes.NewReader(data), int64(len(data))+10, DefaultLimits()); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: %v, want %v", err, io.ErrUnexpectedEOF)
	}
	if _, err := Parse(bytes.NewReader(data), -1, DefaultLimits()); err == nil {
		t.Error("negative size: no error")
	}
	// A reader longer than size is read up to size only.
	p, err := Parse(bytes.NewReader(data), 14, DefaultLimits())
	if err != nil || p.Size != 14 || p.HeaderSize != 14 || p.Root.End != 14 {
		t.Errorf("prefix: %+v, %v", p, err)
	}
}

// segments is an io.ReaderAt over repeated pieces, to parse large messages
// without holding them.
type segments []struct {
	data  []byte
	times int64
}

func (s segments) size() (n int64) {
	for _, seg := range s {
		n += int64(len(seg.data)) * seg.times
	}
	return n
}

func (s segments) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	for _, seg := range s {
		l := int64(len(seg.data)) * seg.times
		if off >= l {
			off -= l
			continue
		}
		for n < len(b) && off < l {
			c := copy(b[n:], seg.data[off%int64(len(seg.data)):])
			n += c
			off += int64(c)
		}
		if n == len(b) {
			return n, nil
		}
		off = 0
	}
	return n, io.EOF
}

func TestBoundedMemory(t *testing.T) {
	partBody := bytes.Repeat([]byte(strings.Repeat("QUJD", 19)+"\r\n"), 1000) // 78 KB
	part := append([]byte("--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"), partBody...)
	msg := segments{
		{[]byte("Subject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"), 1},
		{part, 256},
		{[]byte("--b\r\nContent-Type: text/plain\r\n\r\n"), 1},
		{bytes.Repeat([]byte("x"), 64<<10), 128}, // one 8 MiB line
		{[]byte("\r\n--b--\r\n"), 1},
	}
	size := msg.size()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p, err := Parse(msg, size, DefaultLimits())
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("parsing %d bytes allocated %d bytes", size, alloc)
	}
	if n := len(p.Root.Parts); n != 257 {
		t.Fatalf("%d parts, want 257", n)
	}
	last := p.Root.Parts[256]
	if last.End-last.BodyStart != 8<<20 || last.Lines != 1 {
		t.Errorf("last part: %d bytes, %d lines", last.End-last.BodyStart, last.Lines)
	}
	if first := p.Root.Parts[0]; first.End-first.BodyStart != int64(len(partBody)-2) || first.Lines != 1000 {
		t.Errorf("first part: %d bytes, %d lines", first.End-first.BodyStart, first.Lines)
	}
}
