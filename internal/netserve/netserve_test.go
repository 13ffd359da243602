package netserve

import (
	"net"
	"net/netip"
	"testing"
)

func TestAdmission(t *testing.T) {
	a := NewAdmission(3, 2)
	x, y, z := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("2001:db8::1")
	for i, c := range []struct {
		ip   netip.Addr
		want Refusal
	}{
		{x, Admitted}, {x, Admitted}, {x, TooManyFromIP}, {y, Admitted}, {z, TooMany},
	} {
		if got := a.Admit(c.ip); got != c.want {
			t.Fatalf("step %d: Admit(%s) = %v, want %v", i, c.ip, got, c.want)
		}
	}
	if a.Count(x) != 2 || a.Count(z) != 0 {
		t.Fatalf("Count = %d, %d", a.Count(x), a.Count(z))
	}
	a.Release(x)
	if got := a.Admit(z); got != Admitted {
		t.Fatalf("after a release: %v", got)
	}
	a.Release(y)
	a.Release(z)
	a.Release(x)
	// IPv6 addresses of one /64 share the per-IP count.
	v1, v2 := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	a.Admit(v1)
	a.Admit(v2)
	if got := a.Admit(netip.MustParseAddr("2001:db8:1:2::77")); got != TooManyFromIP {
		t.Fatalf("third address of one /64: %v", got)
	}
	a.Release(v1)
	a.Release(v2)
	if a.total != 0 || len(a.byIP) != 0 {
		t.Fatalf("counts left: %d, %v", a.total, a.byIP)
	}
}

func TestRemoteIP(t *testing.T) {
	for in, want := range map[net.Addr]string{
		&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 25}: "192.0.2.1",
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 25}:      "2001:db8::1",
		&net.UnixAddr{Name: "@", Net: "unix"}:                       "invalid IP",
	} {
		if got := RemoteIP(in).String(); got != want {
			t.Errorf("RemoteIP(%v) = %s, want %s", in, got, want)
		}
	}
	if a, b := NewID(), NewID(); a == b || len(a) != 16 {
		t.Errorf("NewID: %q, %q", a, b)
	}
}
