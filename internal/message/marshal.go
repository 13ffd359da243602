package message

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"postel/internal/store"
)

// The serialized forms are JSON with short field names (see the struct
// tags); empty fields are left out, and map keys are sorted, so the same
// message always serializes to the same bytes.

// marshal is json.Marshal without escaping "<", ">" and "&", which
// message IDs and addresses are full of.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MarshalEnvelope serializes the envelope for store.MessageMeta.Envelope.
func (p *Parsed) MarshalEnvelope() ([]byte, error) {
	return marshal(&p.Envelope)
}

// MarshalStructure serializes the body structure (Root, with the parts and
// encapsulated messages below it) for store.MessageMeta.Structure.
func (p *Parsed) MarshalStructure() ([]byte, error) {
	if p.Root == nil {
		return nil, errors.New("message: no structure to marshal")
	}
	return marshal(p.Root)
}

// UnmarshalEnvelope reads an envelope written by MarshalEnvelope.
func UnmarshalEnvelope(b []byte) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return Envelope{}, fmt.Errorf("message: bad envelope: %w", err)
	}
	return env, nil
}

// maxStoredDepth bounds the nesting UnmarshalStructure accepts: twice the
// DefaultLimits depth (multipart and message levels) and slack.
const maxStoredDepth = 100

// UnmarshalStructure reads a body structure written by MarshalStructure and
// checks that it is consistent: offsets ordered and nested, multiparts with
// children, message parts with their message.
func UnmarshalStructure(b []byte) (*Part, error) {
	var root *Part
	if err := json.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("message: bad structure: %w", err)
	}
	if root == nil {
		return nil, errors.New("message: bad structure: null")
	}
	if err := checkPart(root, 0, root.End, 0); err != nil {
		return nil, fmt.Errorf("message: bad structure: %w", err)
	}
	return root, nil
}

// checkPart checks p and below it, p lying within [lo, hi].
func checkPart(p *Part, lo, hi int64, depth int) error {
	switch {
	case depth > maxStoredDepth:
		return errors.New("nested too deeply")
	case p == nil:
		return errors.New("null part")
	case p.Type == "" || p.Subtype == "":
		return errors.New("part without type")
	case !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi):
		return fmt.Errorf("part offsets %d, %d, %d outside %d..%d", p.HeaderStart, p.BodyStart, p.End, lo, hi)
	case p.Lines < 0:
		return errors.New("negative line count")
	case p.Type == "multipart" && len(p.Parts) == 0:
		return errors.New("multipart without parts")
	case isMessage(p) && (p.Message == nil || p.Message.Root == nil):
		return errors.New("message part without message")
	}
	lo = p.BodyStart
	for _, c := range p.Parts {
		if err := checkPart(c, lo, p.End, depth+1); err != nil {
			return err
		}
		lo = c.End
	}
	if p.Message != nil {
		r := p.Message.Root
		if r == nil || r.HeaderStart != p.BodyStart || r.End != p.End {
			return errors.New("encapsulated message does not span its part")
		}
		return checkPart(r, p.BodyStart, p.End, depth+1)
	}
	return nil
}

// Meta returns the metadata the store keeps for the message.
func (p *Parsed) Meta() (store.MessageMeta, error) {
	env, err := p.MarshalEnvelope()
	if err != nil {
		return store.MessageMeta{}, err
	}
	st, err := p.MarshalStructure()
	if err != nil {
		return store.MessageMeta{}, err
	}
	return store.MessageMeta{
		Envelope:   env,
		Structure:  st,
		Subject:    p.Subject,
		From:       p.From,
		To:         p.To,
		Cc:         p.Cc,
		Bcc:        p.Bcc,
		MessageID:  p.MessageID,
		Date:       p.Date,
		InReplyTo:  p.InReplyTo,
		References: p.References,
	}, nil
}
