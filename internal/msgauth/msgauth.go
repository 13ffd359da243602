package msgauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"postel/internal/dns"
	"postel/internal/message"
	"postel/internal/msgauth/arc"
)

// Bounds.
const (
	// MaxHeaderBytes bounds the header block CheckMessage reads. A message
	// with a larger one is rejected (552 5.3.4): no checker can evaluate
	// it, and no legitimate mail needs one.
	MaxHeaderBytes = 1 << 20
	// MaxListZones bounds Config.DNSBL and Config.DNSWL.
	MaxListZones = 10
	// maxPTRNames bounds the PTR names iprev confirms (as RFC 7208 §4.6.4
	// bounds the names of the "ptr" mechanism).
	maxPTRNames = 10
	// maxFromDomains bounds the distinct domains of From addresses looked
	// at; a message naming more is refused as a possible spoof.
	maxFromDomains = 10
	// defaultTimeout bounds one CheckMessage or CheckClient.
	defaultTimeout = 30 * time.Second
	// defaultMaxSignatures is the default of Config.MaxSignatures.
	defaultMaxSignatures = 5
)

// Config configures a Checker.
type Config struct {
	// AuthServID is our host name: the authserv-id of the
	// Authentication-Results fields we add (RFC 8601 §2.5). Required.
	AuthServID string
	// Resolver does every DNS lookup. Required.
	Resolver dns.Resolver
	// Timeout bounds one CheckMessage or CheckClient, every lookup
	// included. Default 30s.
	Timeout time.Duration
	// MaxSignatures is how many DKIM signatures of a message are verified
	// (the topmost ones); further ones are not checked and count as if
	// absent. Default 5.
	MaxSignatures int
	// DNSBL are the block lists (RFC 5782) the client IP is looked up in,
	// at most MaxListZones. None by default.
	DNSBL []ListZone
	// DNSWL are allow lists, in the same format: a client listed in one is
	// exempt from the DNSBL actions. At most MaxListZones.
	DNSWL []string
	// TrustedARCSealers are domains whose ARC chain (RFC 8617) may
	// override a DMARC failure completely: when every sealer of a passing
	// chain is one of them, the DMARC policy is not applied.
	TrustedARCSealers []string
	// IsLocalDomain reports whether a domain is one of ours. Nil: none is.
	IsLocalDomain func(ctx context.Context, domain string) (bool, error)
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
	// RandN returns a random integer in [0, n); it samples the messages a
	// DMARC pct= applies to (RFC 7489 §6.6.4). Default math/rand/v2.IntN.
	RandN func(n int) int
}

// ListZone is one DNS block list and what a listing means.
type ListZone struct {
	Zone   string // e.g. "zen.example.net"
	Action string // "reject" or "junk"
}

// Checker evaluates the authentication of received mail. It is safe for
// concurrent use.
type Checker struct {
	authservID string
	res        dns.Resolver
	timeout    time.Duration
	maxSigs    int
	dnsbl      []ListZone
	dnswl      []string
	trusted    map[string]bool
	isLocal    func(context.Context, string) (bool, error)
	now        func() time.Time
	randN      func(int) int
}

// New validates cfg and returns a Checker.
func New(cfg Config) (*Checker, error) {
	c := &Checker{
		res:     cfg.Resolver,
		timeout: cfg.Timeout,
		maxSigs: cfg.MaxSignatures,
		isLocal: cfg.IsLocalDomain,
		now:     cfg.Now,
		randN:   cfg.RandN,
		trusted: map[string]bool{},
	}
	if c.res == nil {
		return nil, errors.New("msgauth: no resolver")
	}
	c.authservID = strings.TrimSuffix(cfg.AuthServID, ".")
	if c.authservID == "" || !isToken(c.authservID) {
		return nil, fmt.Errorf("msgauth: authserv-id %q is not a token (RFC 8601 §2.2)", cfg.AuthServID)
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.maxSigs <= 0 {
		c.maxSigs = defaultMaxSignatures
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.randN == nil {
		c.randN = rand.IntN
	}
	if len(cfg.DNSBL) > MaxListZones || len(cfg.DNSWL) > MaxListZones {
		return nil, fmt.Errorf("msgauth: more than %d DNSBL or DNSWL zones", MaxListZones)
	}
	for _, z := range cfg.DNSBL {
		d := normalizeDomain(z.Zone)
		if d == "" {
			return nil, fmt.Errorf("msgauth: DNSBL zone %q is not a domain name", z.Zone)
		}
		if z.Action != "reject" && z.Action != "junk" {
			return nil, fmt.Errorf("msgauth: DNSBL zone %s: action %q, want \"reject\" or \"junk\"", d, z.Action)
		}
		c.dnsbl = append(c.dnsbl, ListZone{Zone: d, Action: z.Action})
	}
	for _, z := range cfg.DNSWL {
		d := normalizeDomain(z)
		if d == "" {
			return nil, fmt.Errorf("msgauth: DNSWL zone %q is not a domain name", z)
		}
		c.dnswl = append(c.dnswl, d)
	}
	for _, s := range cfg.TrustedARCSealers {
		d := normalizeDomain(s)
		if d == "" {
			return nil, fmt.Errorf("msgauth: trusted ARC sealer %q is not a domain name", s)
		}
		c.trusted[d] = true
	}
	return c, nil
}

// Action is what the SMTP server does with a message.
type Action int

// Actions, from the mildest.
const (
	Accept   Action = iota // deliver to the inbox
	Junk                   // deliver to the Junk mailbox
	Reject                 // refuse with a 5xx reply
	TempFail               // refuse with a 4xx reply: the client retries later
)

func (a Action) String() string {
	switch a {
	case Accept:
		return "accept"
	case Junk:
		return "junk"
	case Reject:
		return "reject"
	case TempFail:
		return "tempfail"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Verdict is the decision about one message.
type Verdict struct {
	Action Action
	// Reason is a sentence for the sender (Reject, TempFail) or the user
	// (Junk); empty for Accept.
	Reason string
	// Code and Enhanced are the SMTP reply for Reject and TempFail
	// (RFC 5321 §4.2, RFC 3463); zero otherwise.
	Code     int
	Enhanced [3]int
}

// SPFResult is the outcome of SPF (RFC 7208) for the message.
type SPFResult struct {
	// Result is none, neutral, pass, fail, softfail, temperror or
	// permerror (RFC 7208 §2.6).
	Result string
	// Identity is "mailfrom", or "helo" for the null reverse-path
	// (RFC 7208 §2.4).
	Identity string
	// Domain is the domain checked (normalized; "" when there is none).
	Domain string
	// Reason explains an error result, for the header.
	Reason string
	// Err is the library's detailed error, for logs only.
	Err error
}

// DKIMResult is the outcome of one DKIM signature (RFC 6376).
type DKIMResult struct {
	// Result is pass, fail, policy, neutral, temperror or permerror
	// (RFC 8601 §2.7.1).
	Result string
	// Domain (d=), Selector (s=), Algorithm (a=) and B (b=) of the
	// signature, as written by the signer (white space removed).
	Domain, Selector, Algorithm, B string
	// Reason explains a result other than pass, for the header.
	Reason string
	// Err is the verifier's detailed error, for logs only.
	Err error
}

// DMARCResult is the outcome of DMARC (RFC 7489) for the message.
type DMARCResult struct {
	// Result is none, pass, fail, temperror or permerror.
	Result string
	// Domain is the RFC5322.From domain ("" when none or ambiguous).
	Domain string
	// RecordDomain is where the policy record was found: Domain or its
	// Organizational Domain (RFC 7489 §6.6.3).
	RecordDomain string
	// Policy is the published policy that applies to Domain (p=, or sp=
	// for a record found at the Organizational Domain); "" without one.
	Policy string
	// Applied is the policy applied to a failing message after pct=
	// sampling and ARC: none, quarantine or reject; "" when DMARC did
	// not fail.
	Applied string
	// Percent is the record's pct= (100 when absent).
	Percent int
	// SampledOut is true when pct= spared this message the policy.
	SampledOut bool
	// Override names why the policy was not applied as published:
	// "trusted_forwarder" (a trusted ARC chain) or "arc" (an untrusted
	// passing ARC chain lowered reject to quarantine), after RFC 7489
	// Appendix C's PolicyOverrideType.
	Override string
	// SPFAligned and DKIMAligned report which authenticated identifier
	// aligned with Domain.
	SPFAligned, DKIMAligned bool
	// Reason explains the result, for the header.
	Reason string
	// Err is the detailed error, for logs only.
	Err error
}

// ARCResult is the outcome of the ARC chain (RFC 8617), filled in by the
// ARC code through SetARC.
type ARCResult struct {
	// Result is "none", "pass" or "fail" (RFC 8617 §4.4 cv).
	Result string
	// Sealers are the d= domains of the ARC-Seal fields, oldest (i=1)
	// first.
	Sealers []string
	// OldestAuthResults is the value of the oldest (i=1)
	// ARC-Authentication-Results field, with or without its "i=1;".
	OldestAuthResults string
	// Reason says why the chain failed.
	Reason string
}

// Result is the outcome of every check for one message, and its verdict.
type Result struct {
	SPF   SPFResult
	DKIM  []DKIMResult
	DMARC DMARCResult
	ARC   ARCResult
	IPRev IPRevResult
	HELO  HELOResult
	DNSBL DNSBLResult
	// DKIMUnchecked counts the signatures beyond MaxSignatures.
	DKIMUnchecked int
	// ClientIP is the address of the SMTP client.
	ClientIP string
	// From and FromDomain are the RFC5322.From address and its domain,
	// "" when there is none or several.
	From, FromDomain string
	// Authenticated is true when DMARC identifier alignment passed: SPF
	// or DKIM passed for a domain aligned with FromDomain, whatever
	// policy the domain publishes.
	Authenticated bool
	// Verdict is the decision.
	Verdict Verdict
	// Chain is the ARC chain as validated, for sealing the message when
	// it is forwarded (arc.Sealer.Seal).
	Chain arc.Result

	authservID string
	c          *Checker
	st         state
}

// state is what the verdict is computed from.
type state struct {
	fromDomains  []string // every distinct From domain, normalized
	fromTooMany  bool     // more than maxFromDomains of them
	policy       *policy  // the DMARC policy that applies; nil: none
	policyTemp   bool     // its lookup failed temporarily
	sampled      bool     // the pct= draw selected this message
	local        string   // a From domain that is ours ("" none)
	localTemp    string   // a From domain whose IsLocalDomain failed
	headerTooBig bool
	readErr      error
	arcTemp      bool // the ARC chain could not be validated for now
}

// CheckMessage evaluates one message as received from cl (the exact bytes
// the client sent, without any header field our server adds): SPF of
// mailFrom ("" for the null reverse-path, then of cl's HELO identity),
// every DKIM signature up to MaxSignatures, and DMARC; it returns the
// results and the verdict. msg is read no further than DKIM needs. cl
// comes from CheckClient; nil means the client checks were not run.
func (c *Checker) CheckMessage(ctx context.Context, cl *Client, mailFrom string, msg io.Reader) *Result {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if cl == nil {
		cl = &Client{
			IPRev: IPRevResult{Result: "permerror", Reason: "client not checked"},
			HELO:  HELOResult{Result: "none"},
		}
	}
	r := &Result{authservID: c.authservID, c: c, IPRev: cl.IPRev, HELO: cl.HELO, DNSBL: cl.DNSBL}
	if cl.IP.IsValid() {
		r.ClientIP = cl.IP.String()
	}

	var wg sync.WaitGroup
	wg.Go(func() { r.SPF = c.checkSPF(ctx, cl, mailFrom) })

	br := bufio.NewReader(msg)
	hdr, err := message.ReadHeader(br, MaxHeaderBytes)
	switch {
	case errors.Is(err, message.ErrHeaderTooLarge):
		r.st.headerTooBig = true
	case err != nil:
		r.st.readErr = err
	}
	if err != nil {
		wg.Wait()
		r.DMARC = DMARCResult{Result: "permerror", Reason: "message not read"}
		r.Verdict = r.decide()
		return r
	}
	fields := message.Fields(hdr)
	from := parseFrom(fields)
	r.From, r.FromDomain = from.addr, from.domain
	r.st.fromDomains, r.st.fromTooMany = from.domains, from.tooMany

	var disc discovery
	if from.domain != "" {
		wg.Go(func() { disc = c.discoverPolicy(ctx, from.domain) })
	}
	if c.isLocal != nil && len(from.domains) > 0 {
		wg.Go(func() { r.st.local, r.st.localTemp = c.localDomain(ctx, from.domains) })
	}
	// The ARC chain is validated from the same read of the body as DKIM.
	body := io.Reader(br)
	chain := c.startARC(ctx, hdr, fields, &body)
	r.DKIM, r.DKIMUnchecked, r.st.readErr = c.checkDKIM(ctx, hdr, fields, body)
	wg.Wait()
	if chain != nil {
		r.setChain(chain.wait(body, r.st.readErr))
	} else {
		r.Chain.Status, r.ARC.Result = "none", "none"
	}

	r.DMARC = c.evaluateDMARC(r, from, disc)
	r.Verdict = r.decide()
	return r
}

// localDomain returns the first of domains that is ours, and the first
// whose check failed.
func (c *Checker) localDomain(ctx context.Context, domains []string) (local, failed string) {
	for _, d := range domains {
		ok, err := c.isLocal(ctx, d)
		switch {
		case err != nil:
			if failed == "" {
				failed = d
			}
		case ok:
			return d, failed
		}
	}
	return "", failed
}

// SetARC records the outcome of the message's ARC chain and decides the
// verdict again with it (see the package comment, rule 2). CheckMessage
// calls it; tests call it to try the rule on any chain.
func (r *Result) SetARC(a ARCResult) {
	var sealers []string
	for _, s := range a.Sealers {
		sealers = append(sealers, normalizeDomain(s))
	}
	a.Sealers = sealers
	r.ARC = a
	r.Verdict = r.decide()
}
