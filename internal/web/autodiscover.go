package web

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Outlook's autodiscover, the "Plain Old XML" protocol ([MS-OXDSCLI] and
// Microsoft's "POX Autodiscover web service reference"): Outlook POSTs a
// request naming the address to https://DOMAIN/autodiscover/autodiscover.xml
// or https://autodiscover.DOMAIN/..., or to the host of the
// _autodiscover._tcp.DOMAIN SRV record, and gets the IMAP, POP3 and SMTP
// settings.

const (
	// maxAutodiscoverBody bounds the request body; Outlook's is about 350
	// bytes.
	maxAutodiscoverBody = 16 << 10
	// nsResponse and nsOutlook are the namespaces of the response and of
	// its Response element; schemaOutlook is also what the request names
	// as its AcceptableResponseSchema.
	nsResponse    = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	schemaOutlook = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// autodiscoverRequest is the request; the namespace
// (.../outlook/requestschema/2006) is not checked.
type autodiscoverRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

// autodiscoverResponse is the response.
type autodiscoverResponse struct {
	XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
	Response struct {
		XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
		Account struct {
			AccountType string     `xml:"AccountType"` // email
			Action      string     `xml:"Action"`      // settings
			Protocol    []protocol `xml:"Protocol"`
		} `xml:"Account"`
	}
}

// protocol is one server. Outlook takes the first of each Type.
type protocol struct {
	Type           string `xml:"Type"` // IMAP, POP3, SMTP
	Server         string `xml:"Server"`
	Port           int    `xml:"Port"`
	DomainRequired string `xml:"DomainRequired"` // off: the login name is the address
	LoginName      string `xml:"LoginName"`
	SPA            string `xml:"SPA"` // off: no NTLM
	SSL            string `xml:"SSL"` // on
	// Encryption is "SSL" for implicit TLS, "TLS" for STARTTLS; it takes
	// precedence over SSL for clients that know it.
	Encryption   string `xml:"Encryption"`
	AuthRequired string `xml:"AuthRequired"` // on
}

// errBadRequest is a request that cannot be answered: the client's fault.
var errBadRequest = errors.New("bad autodiscover request")

// parseAutodiscover reads a request body, at most maxAutodiscoverBody
// bytes, and returns the address it asks about, split.
func parseAutodiscover(body io.Reader) (local, domain string, err error) {
	var req autodiscoverRequest
	d := xml.NewDecoder(body)
	if err := d.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", "", err
		}
		return "", "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	// Whatever follows the document is read too, so that the bound holds
	// for the whole body.
	if _, err := io.Copy(io.Discard, body); err != nil {
		return "", "", err
	}
	if s := strings.TrimSpace(req.Request.AcceptableResponseSchema); s != "" && s != schemaOutlook {
		return "", "", fmt.Errorf("%w: only the response schema %s is served", errBadRequest, schemaOutlook)
	}
	local, domain, err = parseAddress(req.Request.EMailAddress)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return local, domain, nil
}

// parseAddress splits an addr-spec (RFC 5322 §3.4.1) at its last "@" and
// normalizes the domain. It refuses what cannot be an address of ours:
// empty parts, parts too long (RFC 5321 §4.5.3.1), white space, control
// characters and angle brackets.
func parseAddress(s string) (local, domain string, err error) {
	s = strings.TrimSpace(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 || at > 64 {
		return "", "", errors.New("not an address")
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f || c == '<' || c == '>' {
			return "", "", errors.New("not an address")
		}
	}
	domain = normalize(s[at+1:])
	if domain == "" {
		return "", "", errors.New("not an address")
	}
	return s[:at], domain, nil
}

// autodiscover answers a POX request for an address of a local domain
// with the IMAP, POP3 and SMTP settings, implicit TLS preferred (RFC 8314
// §3); the login name is the whole address.
func (h *Handler) autodiscover(w http.ResponseWriter, r *http.Request) {
	local, domain, err := parseAutodiscover(http.MaxBytesReader(w, r.Body, maxAutodiscoverBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ok, err := h.isLocal(r.Context(), domain)
	if err != nil {
		h.fault(w, r, err)
		return
	}
	if !ok {
		http.Error(w, "no such domain", http.StatusNotFound)
		return
	}

	login := local + "@" + domain
	proto := func(typ string, port int, implicit bool) protocol {
		p := protocol{
			Type: typ, Server: h.cfg.Hostname, Port: port, DomainRequired: "off",
			LoginName: login, SPA: "off", SSL: "on", Encryption: "SSL", AuthRequired: "on",
		}
		if !implicit {
			p.Encryption = "TLS"
		}
		return p
	}
	var resp autodiscoverResponse
	resp.Response.Account.AccountType = "email"
	resp.Response.Account.Action = "settings"
	p := h.cfg.Ports
	for _, s := range []struct {
		typ                string
		implicit, starttls int
	}{
		{"IMAP", p.IMAPS, p.IMAP},
		{"POP3", p.POP3S, p.POP3},
		{"SMTP", p.Submissions, p.Submission},
	} {
		switch {
		case s.implicit != 0:
			resp.Response.Account.Protocol = append(resp.Response.Account.Protocol, proto(s.typ, s.implicit, true))
		case s.starttls != 0:
			resp.Response.Account.Protocol = append(resp.Response.Account.Protocol, proto(s.typ, s.starttls, false))
		}
	}
	h.writeXML(w, r, resp)
}
