package web

import (
	"encoding/xml"
	"net/http"
	"strings"
)

// Thunderbird's autoconfiguration: the "clientConfig" format of Mozilla's
// ISPDB, version 1.1
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
// Thunderbird fetches https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=ADDRESS,
// then https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml.

// clientConfig is the document.
type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string         `xml:"id,attr"`
	Domain           string         `xml:"domain"`
	DisplayName      string         `xml:"displayName"`
	DisplayShortName string         `xml:"displayShortName"`
	Incoming         []configServer `xml:"incomingServer"`
	Outgoing         []configServer `xml:"outgoingServer"`
}

// configServer is an incomingServer or outgoingServer.
type configServer struct {
	Type           string `xml:"type,attr"` // imap, pop3, smtp
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`     // SSL (implicit TLS) or STARTTLS
	Authentication string `xml:"authentication"` // password-cleartext: the password, inside TLS
	Username       string `xml:"username"`
}

// autoconfig serves the clientConfig of a local domain: the one of the
// host autoconfig.DOMAIN or DOMAIN, else the domain of the emailaddress
// parameter (a request sent to the hostname). Servers come in order of
// preference: implicit TLS first (RFC 8314 §3), then STARTTLS; the user
// name is the whole address.
func (h *Handler) autoconfig(w http.ResponseWriter, r *http.Request) {
	host := hostOf(r.Host)
	domain := strings.TrimPrefix(host, "autoconfig.")
	local, err := h.isLocal(r.Context(), domain)
	if err == nil && !local {
		if _, d, perr := parseAddress(r.URL.Query().Get("emailaddress")); perr == nil {
			domain = d
			local, err = h.isLocal(r.Context(), domain)
		}
	}
	if err != nil {
		h.fault(w, r, err)
		return
	}
	if !local {
		http.Error(w, "no such domain", http.StatusNotFound)
		return
	}

	p := h.cfg.Ports
	srv := func(typ string, port int, socket string) configServer {
		return configServer{
			Type: typ, Hostname: h.cfg.Hostname, Port: port, SocketType: socket,
			Authentication: "password-cleartext", Username: "%EMAILADDRESS%",
		}
	}
	var in, out []configServer
	for _, s := range []struct {
		typ    string
		port   int
		socket string
		out    bool
	}{
		{"imap", p.IMAPS, "SSL", false},
		{"imap", p.IMAP, "STARTTLS", false},
		{"pop3", p.POP3S, "SSL", false},
		{"pop3", p.POP3, "STARTTLS", false},
		{"smtp", p.Submissions, "SSL", true},
		{"smtp", p.Submission, "STARTTLS", true},
	} {
		switch {
		case s.port == 0:
		case s.out:
			out = append(out, srv(s.typ, s.port, s.socket))
		default:
			in = append(in, srv(s.typ, s.port, s.socket))
		}
	}
	h.writeXML(w, r, clientConfig{Version: "1.1", Provider: emailProvider{
		ID: domain, Domain: domain, DisplayName: domain, DisplayShortName: domain,
		Incoming: in, Outgoing: out,
	}})
}

// writeXML answers v as an XML document with status 200.
func (h *Handler) writeXML(w http.ResponseWriter, r *http.Request, v any) {
	body, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		h.fault(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(xml.Header))
	w.Write(body)
	w.Write([]byte("\n"))
}
