package dns

import (
	"context"
	"errors"
	"net"
	"testing"

	mdns "github.com/miekg/dns"
)

// TestNetResolver: the answers and errors of *net.Resolver that libraries
// written for it tell apart: not found (NXDOMAIN, NODATA, a name that
// cannot exist) from temporary; a null MX is no host.
func TestNetResolver(t *testing.T) {
	srv := newZone(t)
	srv.SetRcode("broken.example", mdns.RcodeServerFailure)
	r := NetResolver(newClient(t, srv.Addr))
	ctx := context.Background()
	if txt, err := r.LookupTXT(ctx, "example.org"); err != nil || len(txt) != 1 {
		t.Errorf("LookupTXT = %q, %v", txt, err)
	}
	if mx, err := r.LookupMX(ctx, "nullmx.example"); err != nil || len(mx) != 0 {
		t.Errorf("null MX: %v, %v; want no host", mx, err)
	}
	if ips, err := r.LookupIPAddr(ctx, "mx2.example.org"); err != nil || len(ips) != 1 {
		t.Errorf("LookupIPAddr = %v, %v", ips, err)
	}
	if names, err := r.LookupAddr(ctx, "192.0.2.1"); err != nil || len(names) != 1 {
		t.Errorf("LookupAddr = %v, %v", names, err)
	}
	for _, tc := range []struct {
		what      string
		err       error
		notFound  bool
		temporary bool
	}{
		{"NXDOMAIN", func() error { _, err := r.LookupTXT(ctx, "missing.example"); return err }(), true, false},
		{"NODATA", func() error { _, err := r.LookupTXT(ctx, "mx2.example.org"); return err }(), true, false},
		{"not a name", func() error { _, err := r.LookupTXT(ctx, "a..b"); return err }(), true, false},
		{"not an address", func() error { _, err := r.LookupAddr(ctx, "x"); return err }(), true, false},
		{"SERVFAIL", func() error { _, err := r.LookupTXT(ctx, "broken.example"); return err }(), false, true},
	} {
		var de *net.DNSError
		if !errors.As(tc.err, &de) || de.IsNotFound != tc.notFound || de.Temporary() != tc.temporary {
			t.Errorf("%s: %#v; want IsNotFound %v, temporary %v", tc.what, tc.err, tc.notFound, tc.temporary)
		}
	}
}
