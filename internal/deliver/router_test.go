package deliver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"postel/internal/srs"
	"postel/internal/store"
	"postel/internal/store/sqlite"
)

// routerFixture is a store with domains example.org and other.org, accounts
// and a set of aliases exercising every resolution rule.
func routerFixture(t *testing.T) (*sqlite.Store, map[string]int64) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, d := range []string{"example.org", "other.org"} {
		if err := st.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]int64{}
	for _, a := range []string{"alice@example.org", "bob@example.org", "carol@example.org", "dave@other.org"} {
		acct, err := st.CreateAccount(ctx, a, store.Credentials{})
		if err != nil {
			t.Fatal(err)
		}
		ids[a] = acct.ID
	}
	aliases := [][2]string{
		{"team@example.org", "alice@example.org"},
		{"team@example.org", "bob@example.org"},
		{"dup@example.org", "team@example.org"},
		{"dup@example.org", "ALICE@example.org"},
		{"fwd@example.org", "Ext.User@Remote.NET"},
		{"mixed@example.org", "alice@example.org"},
		{"mixed@example.org", "ext@remote.net"},
		{"loop1@example.org", "loop2@example.org"},
		{"loop2@example.org", "loop1@example.org"},
		{"loop2@example.org", "bob@example.org"},
		{"withdisabled@example.org", "carol@example.org"},
		{"withdisabled@example.org", "alice@example.org"},
		{"onlydisabled@example.org", "carol@example.org"},
		{"nowhere@example.org", "ghost@example.org"},
		{"list@example.org", "bob@example.org"},
		{"@other.org", "dave@other.org"},
		{"@other.org", "alice@example.org"},
		{"cross@example.org", "unknown@other.org"},
		{"alice+special@example.org", "bob@example.org"},
	}
	// chainN@example.org -> chain(N+1) ... -> chain11 -> alice: 12 levels.
	for i := range 11 {
		aliases = append(aliases, [2]string{fmt.Sprintf("chain%d@example.org", i), fmt.Sprintf("chain%d@example.org", i+1)})
	}
	aliases = append(aliases, [2]string{"chain11@example.org", "alice@example.org"})
	for _, a := range aliases {
		if err := st.AddAlias(ctx, a[0], a[1]); err != nil {
			t.Fatalf("AddAlias %v: %v", a, err)
		}
	}
	if err := st.SetDisabled(ctx, "carol@example.org", true); err != nil {
		t.Fatal(err)
	}
	return st, ids
}

func TestResolve(t *testing.T) {
	st, ids := routerFixture(t)
	r := NewRouter(st)
	alice, bob, dave := ids["alice@example.org"], ids["bob@example.org"], ids["dave@other.org"]
	tests := []struct {
		addr   string
		local  []int64
		remote []string
		err    error
	}{
		{addr: "alice@example.org", local: []int64{alice}},
		{addr: "ALICE@Example.Org", local: []int64{alice}},
		{addr: "alice+news@example.org", local: []int64{alice}},
		{addr: "alice+special@example.org", local: []int64{bob}}, // an explicit alias beats the subaddress
		{addr: "list+tag@example.org", local: []int64{bob}},      // subaddress of an alias
		{addr: "team@example.org", local: []int64{alice, bob}},
		{addr: "dup@example.org", local: []int64{alice, bob}},
		{addr: "fwd@example.org", remote: []string{"ext.user@remote.net"}},
		{addr: "mixed@example.org", local: []int64{alice}, remote: []string{"ext@remote.net"}},
		{addr: "loop1@example.org", local: []int64{bob}},
		{addr: "withdisabled@example.org", local: []int64{alice}},
		{addr: "chain2@example.org", local: []int64{alice}}, // 10 levels: within the bound
		{addr: "chain0@example.org", err: ErrNoSuchUser},    // 12 levels: beyond it
		{addr: "anything@other.org", local: []int64{alice, dave}},
		{addr: "dave@other.org", local: []int64{dave}},
		{addr: "cross@example.org", local: []int64{alice, dave}}, // target falls to the catch-all
		{addr: "carol@example.org", err: ErrNoSuchUser},          // disabled
		{addr: "onlydisabled@example.org", err: ErrNoSuchUser},
		{addr: "nowhere@example.org", err: ErrNoSuchUser},
		{addr: "nobody@example.org", err: ErrNoSuchUser},
		{addr: "someone@remote.net", err: ErrNotLocal},
		{addr: "alice@example.org.evil", err: ErrNotLocal},
		{addr: "not-an-address", err: ErrBadAddress},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			route, err := r.Resolve(context.Background(), tc.addr)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Resolve = %+v, %v; want %v", route, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, a := range route.Local {
				got = append(got, a.ID)
			}
			if !slices.Equal(got, tc.local) || !slices.Equal(route.Remote, tc.remote) {
				t.Errorf("Resolve = local %v remote %q; want %v %q", got, route.Remote, tc.local, tc.remote)
			}
		})
	}
}

func TestMaySendAs(t *testing.T) {
	st, _ := routerFixture(t)
	r := NewRouter(st)
	ctx := context.Background()
	alice, err := st.Account(ctx, "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	carol, err := st.Account(ctx, "carol@example.org")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		acct store.Account
		addr string
		want bool
	}{
		{alice, "alice@example.org", true},
		{alice, "Alice@EXAMPLE.org", true},
		{alice, "alice+lists@example.org", true},
		{alice, "team@example.org", true},     // alias listing alice
		{alice, "team+x@example.org", true},   // subaddress of that alias
		{alice, "mixed@example.org", true},    // alias with alice and a remote target
		{alice, "dup@example.org", true},      // lists alice directly
		{alice, "loop1@example.org", false},   // only indirectly (and not at all)
		{alice, "chain11@example.org", true},  // directly
		{alice, "chain10@example.org", false}, // indirectly only
		{alice, "anything@other.org", false},  // catch-all gives no right to send
		{alice, "bob@example.org", false},     // someone else
		{alice, "alice@example.org.evil", false},
		{alice, "alicex@example.org", false},
		{alice, "", false},
		{alice, "garbage", false},
		{carol, "carol@example.org", false}, // disabled
		{carol, "withdisabled@example.org", false},
	}
	for _, tc := range tests {
		got, err := r.MaySendAs(ctx, tc.acct, tc.addr)
		if err != nil || got != tc.want {
			t.Errorf("MaySendAs(%s, %q) = %v, %v; want %v", tc.acct.Address, tc.addr, got, err, tc.want)
		}
	}
}

// TestResolveSRS: an SRS address this server made routes back to the
// original sender (remote, or local resolved as usual); one it did not
// make, or made too long ago, or one of another secret, is no such user.
// Without SRS configured, such an address is an ordinary one (here the
// catch-all of other.org takes it).
func TestResolveSRS(t *testing.T) {
	st, ids := routerFixture(t)
	ctx := context.Background()
	r := NewRouter(st)
	s, err := srs.New([][]byte{[]byte("0123456789abcdef0123456789abcdef")}, 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fwd := func(addr, domain string, at time.Time) string {
		t.Helper()
		a, err := s.Forward(addr, domain, at)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	remote := fwd("Sender@Remote.NET", "example.org", now)
	localOrig := fwd("alice@example.org", "other.org", now)

	if route, err := r.Resolve(ctx, fwd("x@remote.net", "other.org", now)); err != nil || len(route.Local) != 2 || route.SRS {
		t.Errorf("without SRS: %+v, %v; want the catch-all", route, err)
	}
	r.SRS = s
	route, err := r.Resolve(ctx, remote)
	if err != nil || !route.SRS || !slices.Equal(route.Remote, []string{"Sender@Remote.NET"}) || len(route.Local) != 0 {
		t.Errorf("Resolve(%s) = %+v, %v", remote, route, err)
	}
	route, err = r.Resolve(ctx, localOrig)
	if err != nil || !route.SRS || len(route.Local) != 1 || route.Local[0].ID != ids["alice@example.org"] {
		t.Errorf("Resolve(%s) = %+v, %v", localOrig, route, err)
	}
	other, _ := srs.New([][]byte{[]byte("another secret, another server..")}, 0)
	foreign, _ := other.Forward("sender@remote.net", "example.org", now)
	for _, addr := range []string{
		fwd("sender@remote.net", "example.org", now.Add(-30*24*time.Hour)), // expired
		strings.Replace(remote, "=", "=x", 1),                              // hash broken
		foreign,
	} {
		if _, err := r.Resolve(ctx, addr); !errors.Is(err, ErrNoSuchUser) {
			t.Errorf("Resolve(%s) = %v; want ErrNoSuchUser", addr, err)
		}
	}
	// An SRS address of a domain that is not ours is not ours to decode.
	if _, err := r.Resolve(ctx, fwd("a@b.example", "elsewhere.example", now)); !errors.Is(err, ErrNotLocal) {
		t.Errorf("foreign domain: %v", err)
	}
}
