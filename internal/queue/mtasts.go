package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"postel/internal/dns"
)

// MTA-STS (RFC 8461): a domain announces in DNS that its MX hosts offer
// TLS with valid certificates, and publishes over HTTPS which hosts those
// are. In "enforce" mode delivery to a host outside the list, or without a
// verified TLS connection, must not happen; "testing" only reports.

// Bounds of policy fetching and parsing.
const (
	maxPolicyBytes = 64 << 10 // RFC 8461 §3.3 suggests a 64 KiB limit
	maxPolicyMX    = 100
	maxPolicyAge   = 31557600 // RFC 8461 §3.2: max_age up to one year
	maxSTSRecord   = 1024
	maxSTSCache    = 10000 // domains whose policy is kept
)

// Policy modes (RFC 8461 §3.2).
const (
	modeEnforce = "enforce"
	modeTesting = "testing"
	modeNone    = "none"
)

// stsPolicy is a parsed MTA-STS policy.
type stsPolicy struct {
	mode   string
	mx     []string // patterns, lower case: "mx.example.com" or "*.example.com"
	maxAge time.Duration
}

// parseSTSRecord reads the _mta-sts TXT record (RFC 8461 §3.1):
// "v=STSv1; id=ID;" with optional white space and extension fields. It
// returns the policy id.
func parseSTSRecord(txt string) (string, error) {
	if len(txt) > maxSTSRecord {
		return "", errors.New("record too long")
	}
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" || !strings.HasPrefix(txt, "v=STSv1") {
		return "", errors.New("record does not start with v=STSv1")
	}
	id := ""
	for _, f := range fields[1:] {
		f = strings.Trim(f, " \t")
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		// sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
		if !ok || !validExtName(k) || !validExtValue(v) {
			return "", fmt.Errorf("bad field %q", f)
		}
		if k == "id" && id == "" {
			// sts-id-value = 1*32(ALPHA / DIGIT)
			if len(v) < 1 || len(v) > 32 || strings.Trim(v, alnum) != "" {
				return "", fmt.Errorf("bad id %q", v)
			}
			id = v
		}
	}
	if id == "" {
		return "", errors.New("record without id")
	}
	return id, nil
}

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func validExtName(s string) bool {
	return len(s) >= 1 && len(s) <= 32 && strings.Contains(alnum, s[:1]) && strings.Trim(s, alnum+"_-.") == ""
}

// validExtValue: sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E), visible
// characters but ";" and "=".
func validExtValue(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < 0x21 || c > 0x7e || c == ';' || c == '=' {
			return false
		}
	}
	return true
}

// parsePolicy reads a policy body (RFC 8461 §3.2): "key: value" lines
// ending in LF or CRLF. version, mode and max_age are required, and at
// least one mx unless the mode is "none". Unknown keys are ignored; of a
// repeated key other than mx the first counts.
func parsePolicy(body []byte) (*stsPolicy, error) {
	if len(body) > maxPolicyBytes {
		return nil, errors.New("policy too long")
	}
	p := &stsPolicy{}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("policy line without ':': %q", clean(line))
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "mx" {
			if len(p.mx) >= maxPolicyMX {
				return nil, errors.New("too many mx patterns")
			}
			pat, err := mxPattern(v)
			if err != nil {
				return nil, err
			}
			p.mx = append(p.mx, pat)
			continue
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		switch k {
		case "version":
			if v != "STSv1" {
				return nil, fmt.Errorf("unknown policy version %q", clean(v))
			}
		case "mode":
			if v != modeEnforce && v != modeTesting && v != modeNone {
				return nil, fmt.Errorf("unknown policy mode %q", clean(v))
			}
			p.mode = v
		case "max_age":
			// max-age-value = 1*10(DIGIT)
			n, err := strconv.Atoi(v)
			if err != nil || len(v) > 10 || strings.Trim(v, "0123456789") != "" || n > maxPolicyAge {
				return nil, fmt.Errorf("bad max_age %q", clean(v))
			}
			p.maxAge = time.Duration(n) * time.Second
		}
	}
	switch {
	case !seen["version"]:
		return nil, errors.New("policy without version")
	case p.mode == "":
		return nil, errors.New("policy without mode")
	case !seen["max_age"]:
		return nil, errors.New("policy without max_age")
	case len(p.mx) == 0 && p.mode != modeNone:
		return nil, errors.New("policy without mx")
	}
	return p, nil
}

// mxPattern checks an mx value: a host name, possibly starting with "*."
// (RFC 8461 §3.2, §4.1).
func mxPattern(v string) (string, error) {
	v = strings.ToLower(strings.TrimSuffix(v, "."))
	name := strings.TrimPrefix(v, "*.")
	if name == "" || len(name) > 253 || strings.Contains(name, "*") {
		return "", fmt.Errorf("bad mx pattern %q", clean(v))
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, alnum+"-_") != "" {
			return "", fmt.Errorf("bad mx pattern %q", clean(v))
		}
	}
	return v, nil
}

// matches reports whether host is one of the policy's MX patterns (RFC
// 8461 §4.1: a wildcard stands for exactly one leftmost label).
func (p *stsPolicy) matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.mx {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// stsCache fetches policies and keeps them for their max_age (RFC 8461
// §5.1), in memory.
type stsCache struct {
	res    dns.Resolver
	client *http.Client
	log    *slog.Logger

	mu       sync.Mutex
	policies map[string]*cachedPolicy
}

type cachedPolicy struct {
	id      string
	policy  *stsPolicy
	expires time.Time
}

func newSTSCache(res dns.Resolver, client *http.Client, log *slog.Logger) *stsCache {
	c := *client
	// RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed".
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &stsCache{res: res, client: &c, log: log, policies: map[string]*cachedPolicy{}}
}

// policy returns the policy in force for domain, or nil when there is none
// (or its mode is "none"). Following RFC 8461 §5.1: the TXT record's id
// tells whether the cached policy is current; a policy that cannot be
// fetched leaves the cached one, if unexpired, in force; without either,
// delivery goes on as if the domain had no policy.
func (c *stsCache) policy(ctx context.Context, domain string) *stsPolicy {
	now := time.Now()
	c.mu.Lock()
	cached := c.policies[domain]
	if cached != nil && !now.Before(cached.expires) {
		delete(c.policies, domain)
		cached = nil
	}
	c.mu.Unlock()

	id, err := c.lookupID(ctx, domain)
	if err != nil {
		if !dns.IsNotFound(err) {
			c.log.Debug("MTA-STS record", "domain", domain, "err", err)
		}
		return cached.get()
	}
	if cached != nil && cached.id == id {
		return cached.get()
	}
	p, err := c.fetch(ctx, domain)
	if err != nil {
		c.log.Warn("MTA-STS policy fetch failed", "domain", domain, "err", err)
		return cached.get()
	}
	c.mu.Lock()
	if len(c.policies) >= maxSTSCache {
		c.evict(now)
	}
	c.policies[domain] = &cachedPolicy{id: id, policy: p, expires: now.Add(p.maxAge)}
	c.mu.Unlock()
	if p.mode == modeNone {
		return nil
	}
	return p
}

func (cp *cachedPolicy) get() *stsPolicy {
	if cp == nil || cp.policy.mode == modeNone {
		return nil
	}
	return cp.policy
}

// evict drops expired policies, or all when none is; c.mu is held.
func (c *stsCache) evict(now time.Time) {
	for d, p := range c.policies {
		if !now.Before(p.expires) {
			delete(c.policies, d)
		}
	}
	if len(c.policies) >= maxSTSCache {
		clear(c.policies)
	}
}

// lookupID finds the one valid _mta-sts record of domain (RFC 8461 §3.1:
// records not starting with "v=STSv1" are discarded; not exactly one left,
// or one that does not parse, means no policy).
func (c *stsCache) lookupID(ctx context.Context, domain string) (string, error) {
	txts, err := c.res.LookupTXT(ctx, "_mta-sts."+domain)
	if err != nil {
		return "", err
	}
	var recs []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=STSv1") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return "", fmt.Errorf("%d MTA-STS records: %w", len(recs), dns.ErrNoData)
	}
	id, err := parseSTSRecord(recs[0])
	if err != nil {
		return "", fmt.Errorf("MTA-STS record: %v: %w", err, dns.ErrNoData)
	}
	return id, nil
}

// fetch gets the policy of domain from
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt (RFC 8461 §3.3): status 200,
// media type text/plain, a certificate valid for the host, no redirects.
func (c *stsCache) fetch(ctx context.Context, domain string) (*stsPolicy, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://mta-sts."+domain+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return nil, fmt.Errorf("media type %q, want text/plain", clean(resp.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	return parsePolicy(body)
}
