package web

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMTASTSMaxAge is the max_age of the policy when Config sets none:
// one week, as RFC 8461 §3.2's example (senders refetch when the TXT id
// changes, so a long age only delays noticing that the policy is gone).
const DefaultMTASTSMaxAge = 604800 * time.Second

// STSPolicy is an MTA-STS policy (RFC 8461 §3.2).
type STSPolicy struct {
	Mode   string   // "enforce", "testing" or "none"
	MX     []string // host names or "*." patterns the domain's MX may be
	MaxAge time.Duration
}

// Policy returns the policy every local domain gets: the configured mode
// (default "enforce"), mx: the hostname, the configured max_age (default
// DefaultMTASTSMaxAge).
func (c Config) Policy() STSPolicy {
	p := STSPolicy{Mode: c.MTASTSMode, MX: []string{normalize(c.Hostname)}, MaxAge: c.MTASTSMaxAge}
	if p.Mode == "" {
		p.Mode = "enforce"
	}
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultMTASTSMaxAge
	}
	return p
}

// Text returns the policy file: "key: value" lines ending in CRLF, version
// first (RFC 8461 §3.2), max_age in whole seconds.
func (p STSPolicy) Text() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\n")
	b.WriteString("mode: " + p.Mode + "\r\n")
	for _, mx := range p.MX {
		b.WriteString("mx: " + mx + "\r\n")
	}
	b.WriteString("max_age: " + strconv.FormatInt(int64(p.MaxAge/time.Second), 10) + "\r\n")
	return b.String()
}

// ID returns the policy's id for the TXT record: 20 hexadecimal digits of
// the SHA-256 of Text (RFC 8461 §3.1: 1 to 32 letters and digits, to be
// changed whenever the policy changes, which a digest of it does by
// itself).
func (p STSPolicy) ID() string {
	sum := sha256.Sum256([]byte(p.Text()))
	return hex.EncodeToString(sum[:10])
}

// Record returns the text of the TXT record every local domain publishes
// at _mta-sts.DOMAIN (RFC 8461 §3.1), e.g. "v=STSv1; id=0123456789abcdef0123;".
func (p STSPolicy) Record() string {
	return "v=STSv1; id=" + p.ID() + ";"
}

// mtaSTS serves the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt
// for local domains (RFC 8461 §3.3: status 200, media type text/plain,
// never a redirect, which senders must not follow).
func (h *Handler) mtaSTS(w http.ResponseWriter, r *http.Request) {
	domain, ok := strings.CutPrefix(hostOf(r.Host), "mta-sts.")
	if !ok {
		http.Error(w, "MTA-STS policies are served on mta-sts.DOMAIN", http.StatusNotFound)
		return
	}
	local, err := h.isLocal(r.Context(), domain)
	if err != nil {
		h.fault(w, r, err)
		return
	}
	if !local {
		http.Error(w, "no such domain", http.StatusNotFound)
		return
	}
	text := h.policy.Text()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(text)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(text))
}
