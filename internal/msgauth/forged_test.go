package msgauth

import (
	"slices"
	"strings"
	"testing"

	"postel/internal/message"
)

func TestForgedFields(t *testing.T) {
	// Each line is one field; true marks the ones to remove.
	lines := []struct {
		field  string
		forged bool
	}{
		{"Authentication-Results: mx.postel.example; spf=pass smtp.mailfrom=example.com", true},
		{"Authentication-Results: (checked by us) MX.Postel.Example. (really); dkim=pass header.d=x.example", true},
		{"authentication-results: \"mx.postel.example\"; none", true},
		{"AUTHENTICATION-RESULTS:\r\n\tmx.postel.example\r\n\t; spf=pass", true},
		{"Authentication-Results: mx.postel.example(no space); spf=pass", true},
		{"Authentication-Results: mx.postel.example 1; spf=pass", true},
		{"Authentication-Results : mx.postel.example; none", true},
		// A naive reader takes the first word, comment or not.
		{"Authentication-Results: mx.postel.example (other.example); spf=pass", true},
		{"Authentication-Results: other.example; spf=pass smtp.mailfrom=mx.postel.example", false},
		{"Authentication-Results: Postel.Example; spf=pass", true},
		{"ARC-Authentication-Results: i=3; postel.example; spf=pass", true},
		{"Authentication-Results: mx.postel.example.evil.example; spf=pass", false},
		{"Authentication-Results: (mx.postel.example) other.example; spf=pass", false},
		{"Authentication-Results: xmx.postel.example; spf=pass", false},
		{"ARC-Authentication-Results: i=1; mx.postel.example; spf=pass", true},
		{"ARC-Authentication-Results: i = 2 ;\r\n (c) Mx.Postel.Example; dkim=pass", true},
		{"ARC-Authentication-Results: i=1; relay.example; spf=pass", false},
		{"ARC-Seal: i=1; a=rsa-sha256; d=postel.example; s=sel; cv=none; b=abc", true},
		{"ARC-Seal: i=2; a=rsa-sha256; d = Mx.Postel.Example. ; s=sel; cv=pass; b=abc", true},
		{"ARC-Seal: i=1; a=rsa-sha256; d=relay.example; s=sel; cv=none; b=abc", false},
		{"ARC-Message-Signature: i=1; a=rsa-sha256; d=other.postel.example; s=s; h=from; bh=x; b=y", true},
		{"ARC-Message-Signature: i=1; a=rsa-sha256; d=relay.example; s=s; h=from; bh=x; b=y", false},
		{"ARC-Message-Signature: i=1; a=rsa-sha256; d=po\r\n stel.example; s=s; b=y", true},
		{"DKIM-Signature: v=1; d=postel.example; s=sel; b=abc", false},
		{"Received: from mx.postel.example by mx.postel.example", false},
		{"X-Authentication-Results: mx.postel.example; spf=pass", false},
	}
	var hdr strings.Builder
	var want []int
	for i, l := range lines {
		hdr.WriteString(l.field + "\r\n")
		if l.forged {
			want = append(want, i)
		}
	}
	hdr.WriteString("\r\n")
	fields := message.Fields([]byte(hdr.String()))
	if len(fields) != len(lines) {
		t.Fatalf("%d fields, want %d", len(fields), len(lines))
	}
	got := ForgedFields(fields, "mx.postel.example", []string{"postel.example", "Other.Postel.Example."})
	if !slices.Equal(got, want) {
		for _, i := range got {
			if !slices.Contains(want, i) {
				t.Errorf("removed: %q", lines[i].field)
			}
		}
		for _, i := range want {
			if !slices.Contains(got, i) {
				t.Errorf("kept: %q", lines[i].field)
			}
		}
	}
	// Our own header passes through our own check as ours.
	e := newEnv(t, nil)
	r := e.check(t, "a@pass.example", plain("a@pass.example"))
	own := message.Fields(append(r.Header(), "\r\n"...))
	if got := ForgedFields(own, authservID, nil); !slices.Equal(got, []int{0}) {
		t.Errorf("our own field: %v", got)
	}
	if got := ForgedFields(fields, "", nil); got != nil {
		t.Errorf("without authserv-id: %v", got)
	}
}
