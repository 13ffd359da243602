package web

import (
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Redirect returns the handler of the plain HTTP listener (behind the ACME
// http-01 challenge, see certs.Manager.HTTPHandler): GET and HEAD are
// redirected permanently to the same host and path over HTTPS, on
// httpsPort (left out of the URL when it is 443 or 0); other methods get
// 400, as a body sent in clear cannot be taken back. A Host that is
// neither a DNS name nor an IP address gets 400, so the Location is always
// a well-formed URL of the host asked for.
func Redirect(httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		host := hostOf(r.Host)
		if ip := net.ParseIP(host); ip != nil {
			if ip.To4() == nil {
				host = "[" + host + "]"
			}
		} else if !isDNSName(host) {
			http.Error(w, "bad host", http.StatusBadRequest)
			return
		}
		if httpsPort != 0 && httpsPort != 443 {
			host += ":" + strconv.Itoa(httpsPort)
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// isDNSName reports whether s is a host name: dot-separated labels of
// letters, digits, "-" and "_", none empty or longer than 63 octets
// (RFC 1035 §2.3.4), 253 octets at most.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
