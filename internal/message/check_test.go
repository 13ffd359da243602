package message

import (
	"bytes"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// checkParsed checks the invariants every Parse result keeps, independently
// of the parser's own bookkeeping, and that it survives serialization. It
// returns the first violation.
func checkParsed(raw []byte, p *Parsed, lim Limits) error {
	size := int64(len(raw))
	if p.Size != size || p.Root == nil || p.Root.HeaderStart != 0 || p.Root.End != size {
		return fmt.Errorf("top: size %d, want %d; root %+v", p.Size, size, p.Root)
	}
	if p.HeaderSize != p.Root.BodyStart {
		return fmt.Errorf("header size %d, root body start %d", p.HeaderSize, p.Root.BodyStart)
	}
	if err := checkPart(p.Root, 0, size, 0); err != nil {
		return err
	}
	nparts := 0
	var walk func(pt *Part, level int) error
	walk = func(pt *Part, level int) error {
		nparts++
		if level > lim.MaxDepth+1 {
			return fmt.Errorf("part at level %d, limit %d", level, lim.MaxDepth)
		}
		body := raw[pt.BodyStart:pt.End]
		lines := int64(bytes.Count(body, []byte("\n")))
		if len(body) > 0 && body[len(body)-1] != '\n' {
			lines++
		}
		if pt.Lines != lines {
			return fmt.Errorf("part at %d: %d lines, counted %d", pt.HeaderStart, pt.Lines, lines)
		}
		if err := checkStrings(reflect.ValueOf(pt).Elem()); err != nil {
			return err
		}
		for _, c := range pt.Parts {
			if err := walk(c, level+1); err != nil {
				return err
			}
		}
		if m := pt.Message; m != nil {
			if m.HeaderSize != m.Root.BodyStart-m.Root.HeaderStart || m.Size != pt.End-pt.BodyStart {
				return fmt.Errorf("message at %d: header size %d, size %d", pt.BodyStart, m.HeaderSize, m.Size)
			}
			if err := checkEnvelope(&m.Envelope); err != nil {
				return err
			}
			return walk(m.Root, level+1)
		}
		return nil
	}
	if err := walk(p.Root, 0); err != nil {
		return err
	}
	if nparts > 2*lim.MaxParts {
		return fmt.Errorf("%d parts, limit %d", nparts, lim.MaxParts)
	}
	if err := checkEnvelope(&p.Envelope); err != nil {
		return err
	}
	for _, s := range []string{p.Subject, p.From, p.To, p.Cc, p.Bcc, p.MessageID, p.InReplyTo} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("invalid UTF-8 %q", s)
		}
	}
	return checkRoundTrip(p)
}

// checkEnvelope checks that group markers are well formed and that no
// address looks like one.
func checkEnvelope(env *Envelope) error {
	for _, list := range [][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		open := false
		for _, a := range list {
			switch {
			case a == Address{}:
				if !open {
					return fmt.Errorf("group end without start in %v", list)
				}
				open = false
			case a.Host == "":
				if open || a.Name != "" {
					return fmt.Errorf("bad group start in %v", list)
				}
				open = true
			case a.Mailbox == "":
				return fmt.Errorf("address without mailbox in %v", list)
			}
		}
		if open {
			return fmt.Errorf("unterminated group in %v", list)
		}
	}
	return checkStrings(reflect.ValueOf(env).Elem())
}

// checkStrings checks that the strings of a struct, its slices and maps,
// not descending into parts, are valid UTF-8 (JSON needs them so).
func checkStrings(v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		if !utf8.ValidString(v.String()) {
			return fmt.Errorf("invalid UTF-8 %q", v.String())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if err := checkStrings(v.Field(i)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			if err := checkStrings(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			if err := checkStrings(k); err != nil {
				return err
			}
			if err := checkStrings(v.MapIndex(k)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkRoundTrip checks that envelope and structure come back equal from
// their serialized forms, and that serializing is deterministic.
func checkRoundTrip(p *Parsed) error {
	eb, err := p.MarshalEnvelope()
	if err != nil {
		return err
	}
	env, err := UnmarshalEnvelope(eb)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(env, p.Envelope) {
		return fmt.Errorf("envelope round trip:\n got %+v\nwant %+v", env, p.Envelope)
	}
	sb, err := p.MarshalStructure()
	if err != nil {
		return err
	}
	root, err := UnmarshalStructure(sb)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(root, p.Root) {
		return fmt.Errorf("structure round trip differs:\n%s", sb)
	}
	again, err := (&Parsed{Root: root}).MarshalStructure()
	if err != nil {
		return err
	}
	if !bytes.Equal(again, sb) {
		return fmt.Errorf("structure serializes differently:\n%s\n%s", sb, again)
	}
	return nil
}
