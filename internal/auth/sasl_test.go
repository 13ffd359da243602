package auth

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/xdg-go/scram"
)

// newServer returns a SASL server of env for mech and a pointer to the
// identities its done callback received.
func (e *testEnv) newServer(t *testing.T, mech string) (sasl.Server, *[]Identity) {
	t.Helper()
	var got []Identity
	s, err := e.a.NewServer(context.Background(), mech, "smtp", ipA, func(id Identity) { got = append(got, id) })
	if err != nil {
		t.Fatalf("NewServer(%q): %v", mech, err)
	}
	return s, &got
}

func TestNewServerMechanisms(t *testing.T) {
	env := newTestEnv(t)
	for _, mech := range []string{"PLAIN", "plain", "Login", "SCRAM-SHA-256", "scram-sha-256"} {
		if _, err := env.a.NewServer(context.Background(), mech, "smtp", ipA, nil); err != nil {
			t.Errorf("NewServer(%q): %v", mech, err)
		}
	}
	for _, mech := range []string{"", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256-PLUS", "XOAUTH2", strings.Repeat("X", 1000)} {
		s, err := env.a.NewServer(context.Background(), mech, "smtp", ipA, nil)
		if !errors.Is(err, ErrUnknownMechanism) || s != nil {
			t.Errorf("NewServer(%.20q) = %v, %v; want ErrUnknownMechanism", mech, s, err)
		}
		if err != nil && len(err.Error()) > 100 {
			t.Errorf("error text not bounded: %d bytes", len(err.Error()))
		}
	}
}

// step is one exchange with a SASL server: the response sent, and what
// must come back.
type step struct {
	resp      []byte
	challenge string // expected challenge, when no error
	done      bool
	err       error
}

func runSteps(t *testing.T, s sasl.Server, steps []step) {
	t.Helper()
	for i, st := range steps {
		ch, done, err := s.Next(st.resp)
		if !errors.Is(err, st.err) || (err == nil) != (st.err == nil) {
			t.Fatalf("step %d: error %v, want %v", i, err, st.err)
		}
		if err != nil {
			if ch != nil || done {
				t.Errorf("step %d: error with challenge %q done %v", i, ch, done)
			}
			continue
		}
		if string(ch) != st.challenge || done != st.done {
			t.Errorf("step %d: challenge %q done %v, want %q %v", i, ch, done, st.challenge, st.done)
		}
		if !done && ch == nil {
			t.Errorf("step %d: nil challenge before the end", i)
		}
	}
}

func TestPlain(t *testing.T) {
	alice := []Identity{{AccountID: 1, Address: "alice@example.org"}}
	msg := func(authz, authc, pw string) []byte { return []byte(authz + "\x00" + authc + "\x00" + pw) }
	tests := []struct {
		name  string
		steps []step
		want  []Identity
	}{
		{"initial response", []step{
			{resp: msg("", "alice@example.org", alicePass), done: true},
		}, alice},
		{"no initial response", []step{
			{resp: nil, challenge: ""},
			{resp: msg("", "alice@example.org", alicePass), done: true},
		}, alice},
		{"authzid same as authcid, other case", []step{
			{resp: msg("ALICE@example.org", "alice@EXAMPLE.org", alicePass), done: true},
		}, alice},
		{"authzid of another user", []step{
			{resp: msg("erin@example.org", "alice@example.org", alicePass), err: ErrAuthFailed},
		}, nil},
		{"wrong password", []step{
			{resp: msg("", "alice@example.org", "wrong password!"), err: ErrAuthFailed},
		}, nil},
		{"unknown user", []step{
			{resp: msg("", "nobody@example.org", alicePass), err: ErrAuthFailed},
		}, nil},
		{"disabled", []step{
			{resp: msg("", "bob@example.org", bobPass), err: ErrAuthFailed},
		}, nil},
		{"empty initial response", []step{
			{resp: []byte{}, err: ErrMalformed},
		}, nil},
		{"no NUL", []step{{resp: []byte("alice@example.org"), err: ErrMalformed}}, nil},
		{"one NUL", []step{{resp: []byte("alice@example.org\x00pw"), err: ErrMalformed}}, nil},
		{"three NULs", []step{{resp: []byte("\x00alice@example.org\x00pw\x00"), err: ErrMalformed}}, nil},
		{"empty authcid", []step{{resp: msg("", "", alicePass), err: ErrMalformed}}, nil},
		{"empty passwd", []step{{resp: msg("", "alice@example.org", ""), err: ErrMalformed}}, nil},
		{"invalid UTF-8", []step{{resp: msg("", "alice@example.org", "\xff\xfe"), err: ErrMalformed}}, nil},
		{"too long", []step{{resp: msg("", "alice@example.org", strings.Repeat("x", maxPlainMsg)), err: ErrMalformed}}, nil},
		{"response after the end", []step{
			{resp: msg("", "alice@example.org", alicePass), done: true},
			{resp: []byte("more"), err: ErrMalformed},
		}, alice},
		{"nil twice", []step{
			{resp: nil, challenge: ""},
			{resp: nil, err: ErrMalformed},
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			s, got := env.newServer(t, "PLAIN")
			runSteps(t, s, tc.steps)
			if len(*got) != len(tc.want) || (len(tc.want) == 1 && (*got)[0] != tc.want[0]) {
				t.Errorf("done got %+v, want %+v", *got, tc.want)
			}
			env.noSecrets(t)
		})
	}
}

func TestPlainMalformedNotCounted(t *testing.T) {
	env := newTestEnv(t)
	s, _ := env.newServer(t, "PLAIN")
	if _, _, err := s.Next([]byte("junk")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v", err)
	}
	if len(env.a.th.entries) != 0 || len(env.slept()) != 0 {
		t.Errorf("malformed message counted or delayed")
	}
	if !strings.Contains(env.logBuf.String(), "auth malformed") {
		t.Errorf("malformed message not logged")
	}
}

func TestPlainAuthzMismatchCounted(t *testing.T) {
	env := newTestEnv(t)
	s, _ := env.newServer(t, "PLAIN")
	s.Next([]byte("erin@example.org\x00alice@example.org\x00" + alicePass))
	if _, ok := env.a.th.entries["user alice@example.org"]; !ok {
		t.Errorf("authorization failure not counted against the account")
	}
	if log := env.logBuf.String(); !strings.Contains(log, "authorization identity differs") || !strings.Contains(log, "mech=PLAIN") {
		t.Errorf("log:\n%s", log)
	}
}

// RFC 5530 §3 with RFC 4616 §2: an authzid the user may not act as is
// refused as an authorization failure only once the password verified;
// otherwise it is an authentication failure like any other, which tells
// nothing of the password.
func TestPlainAuthzFailedOnlyAfterPassword(t *testing.T) {
	tests := []struct {
		name       string
		authc, pw  string
		wantAuthz  bool
		wantReason string
	}{
		{"right password", "alice@example.org", alicePass, true, "authorization identity differs"},
		{"wrong password", "alice@example.org", "wrong password!", false, "wrong password"},
		{"unknown user", "nobody@example.org", alicePass, false, "unknown user"},
		{"disabled account", "bob@example.org", bobPass, false, "account disabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			s, got := env.newServer(t, "PLAIN")
			_, done, err := s.Next([]byte("erin@example.org\x00" + tc.authc + "\x00" + tc.pw))
			if done || len(*got) != 0 || !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("done %v, identities %v, err %v: want ErrAuthFailed", done, *got, err)
			}
			if errors.Is(err, ErrAuthzFailed) != tc.wantAuthz {
				t.Errorf("err %v: ErrAuthzFailed %v, want %v", err, !tc.wantAuthz, tc.wantAuthz)
			}
			if log := env.logBuf.String(); !strings.Contains(log, `reason="`+tc.wantReason) {
				t.Errorf("log lacks the reason %q:\n%s", tc.wantReason, log)
			}
			if len(env.a.th.entries) == 0 || len(env.slept()) != 1 {
				t.Errorf("failure not counted or not delayed: entries %v, slept %v", keysOf(env.a.th), env.slept())
			}
		})
	}
}

func TestLogin_SASL(t *testing.T) {
	alice := []Identity{{AccountID: 1, Address: "alice@example.org"}}
	tests := []struct {
		name  string
		steps []step
		want  []Identity
	}{
		{"no initial response", []step{
			{resp: nil, challenge: "Username:"},
			{resp: []byte("alice@example.org"), challenge: "Password:"},
			{resp: []byte(alicePass), done: true},
		}, alice},
		{"empty initial response", []step{
			{resp: []byte{}, challenge: "Username:"},
			{resp: []byte("Alice@Example.org"), challenge: "Password:"},
			{resp: []byte(alicePass), done: true},
		}, alice},
		{"user name as initial response", []step{
			{resp: []byte("alice@example.org"), challenge: "Password:"},
			{resp: []byte(alicePass), done: true},
		}, alice},
		{"wrong password", []step{
			{resp: []byte("alice@example.org"), challenge: "Password:"},
			{resp: []byte("wrong password!"), err: ErrAuthFailed},
		}, nil},
		{"disabled", []step{
			{resp: []byte("bob@example.org"), challenge: "Password:"},
			{resp: []byte(bobPass), err: ErrAuthFailed},
		}, nil},
		{"empty user name", []step{
			{resp: nil, challenge: "Username:"},
			{resp: []byte{}, challenge: "Password:"},
			{resp: []byte(alicePass), err: ErrAuthFailed},
		}, nil},
		{"user name too long", []step{
			{resp: []byte(strings.Repeat("u", maxUsernameLen+1)), err: ErrMalformed},
		}, nil},
		{"password too long", []step{
			{resp: []byte("alice@example.org"), challenge: "Password:"},
			{resp: []byte(strings.Repeat("p", MaxPasswordLen+1)), err: ErrMalformed},
		}, nil},
		{"response after the end", []step{
			{resp: []byte("alice@example.org"), challenge: "Password:"},
			{resp: []byte(alicePass), done: true},
			{resp: []byte{}, err: ErrMalformed},
		}, alice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			s, got := env.newServer(t, "LOGIN")
			runSteps(t, s, tc.steps)
			if len(*got) != len(tc.want) || (len(tc.want) == 1 && (*got)[0] != tc.want[0]) {
				t.Errorf("done got %+v, want %+v", *got, tc.want)
			}
			env.noSecrets(t)
		})
	}
}

// scramRun drives a SCRAM-SHA-256 exchange between an xdg-go/scram client
// conversation and our server. It returns the error of the server's Next,
// if any, and the step (0 first, 1 final, 2 ack) it came at.
func scramRun(t *testing.T, s sasl.Server, conv *scram.ClientConversation, initialResponse bool) (int, error) {
	t.Helper()
	c1, err := conv.Step("")
	if err != nil {
		t.Fatalf("client first: %v", err)
	}
	if !initialResponse {
		ch, done, err := s.Next(nil)
		if err != nil || done || ch == nil || len(ch) != 0 {
			t.Fatalf("Next(nil) = %q, %v, %v; want an empty challenge", ch, done, err)
		}
	}
	s1, done, err := s.Next([]byte(c1))
	if err != nil {
		return 0, err
	}
	if done {
		t.Fatalf("done after client-first")
	}
	c2, err := conv.Step(string(s1))
	if err != nil {
		t.Fatalf("client final (server-first %q): %v", s1, err)
	}
	s2, done, err := s.Next([]byte(c2))
	if err != nil {
		return 1, err
	}
	if done {
		t.Fatalf("done after client-final")
	}
	if _, err := conv.Step(string(s2)); err != nil || !conv.Valid() {
		t.Fatalf("client rejects server-final %q: %v", s2, err)
	}
	ch, done, err := s.Next([]byte{})
	if err != nil {
		return 2, err
	}
	if !done || ch != nil {
		t.Fatalf("last Next = %q, %v; want done", ch, done)
	}
	return 3, nil
}

func scramClient(t *testing.T, user, pass, authz string) *scram.Client {
	t.Helper()
	c, err := scram.SHA256.NewClient(user, pass, authz)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSCRAM(t *testing.T) {
	alice := Identity{AccountID: 1, Address: "alice@example.org"}
	tests := []struct {
		name            string
		user, pass, az  string
		advertiseCB     bool // "y,," gs2 header
		initialResponse bool
		wantStep        int
		wantErr         error
		reason          string
	}{
		{"right password", "alice@example.org", alicePass, "", false, true, 3, nil, ""},
		{"no initial response", "alice@example.org", alicePass, "", false, false, 3, nil, ""},
		{"user name case", "ALICE@example.org", alicePass, "", false, true, 3, nil, ""},
		{"SASLprep'd password", "alice@example.org", "correct\u00a0horse battery staple", "", false, true, 3, nil, ""},
		{"y gs2 flag", "alice@example.org", alicePass, "", true, true, 3, nil, ""},
		{"authzid same", "alice@example.org", alicePass, "Alice@example.org", false, true, 3, nil, ""},
		{"authzid other", "alice@example.org", alicePass, "erin@example.org", false, true, 1, ErrAuthzFailed, "authorization identity differs"},
		{"authzid other, wrong password", "alice@example.org", "wrong password!", "erin@example.org", false, true, 1, ErrAuthFailed, "wrong password"},
		{"wrong password", "alice@example.org", "wrong password!", "", false, true, 1, ErrAuthFailed, "wrong password"},
		{"unknown user", "nobody@example.org", alicePass, "", false, true, 1, ErrAuthFailed, "unknown user"},
		{"disabled", "bob@example.org", bobPass, "", false, true, 1, ErrAuthFailed, "account disabled"},
		{"no SCRAM keys", "carol@example.org", "whatever", "", false, true, 1, ErrAuthFailed, "account has no usable SCRAM-SHA-256 credentials"},
		{"user name with comma and equals", "a,b=c@example.org", "pw", "", false, true, 1, ErrAuthFailed, "unknown user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			s, got := env.newServer(t, "SCRAM-SHA-256")
			c := scramClient(t, tc.user, tc.pass, tc.az)
			conv := c.NewConversation()
			if tc.advertiseCB {
				conv = c.NewConversationAdvertisingChannelBinding()
			}
			stepN, err := scramRun(t, s, conv, tc.initialResponse)
			if stepN != tc.wantStep || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) ||
				errors.Is(err, ErrAuthzFailed) != (tc.wantErr == ErrAuthzFailed) {
				t.Fatalf("ended at step %d with %v, want step %d with %v", stepN, err, tc.wantStep, tc.wantErr)
			}
			log := env.logBuf.String()
			if tc.wantErr == nil {
				if len(*got) != 1 || (*got)[0] != alice {
					t.Errorf("done got %+v, want [%+v]", *got, alice)
				}
				if len(env.a.th.entries) != 0 {
					t.Errorf("throttle entries after success: %v", keysOf(env.a.th))
				}
			} else {
				if len(*got) != 0 {
					t.Errorf("done called on failure: %+v", *got)
				}
				if !strings.Contains(log, `reason="`+tc.reason) || !strings.Contains(log, "mech=SCRAM-SHA-256") {
					t.Errorf("log lacks the reason %q:\n%s", tc.reason, log)
				}
				if len(env.slept()) != 1 {
					t.Errorf("slept %v, want one delay", env.slept())
				}
				if _, ok := env.a.th.entries["user "+strings.ToLower(tc.user)]; !ok {
					t.Errorf("failure not counted against the account")
				}
			}
			env.noSecrets(t)
		})
	}
}

// TestSCRAMUnknownUserLooksReal checks that an unknown user gets a salt
// and iteration count like a real one, the same on every attempt.
func TestSCRAMUnknownUserLooksReal(t *testing.T) {
	env := newTestEnv(t)
	first := func(user string) string {
		s, _ := env.newServer(t, "SCRAM-SHA-256")
		ch, _, err := s.Next([]byte("n,,n=" + user + ",r=abcdefgh"))
		if err != nil {
			t.Fatal(err)
		}
		// r=<nonce>,s=<salt>,i=<iters>: drop the random nonce.
		_, rest, _ := strings.Cut(string(ch), ",")
		return rest
	}
	a, b := first("nobody@example.org"), first("nobody@example.org")
	if a != b {
		t.Errorf("unknown user's salt changes: %q then %q", a, b)
	}
	if c := first("other@example.org"); c == a {
		t.Errorf("two unknown users share a salt")
	}
	if !strings.HasSuffix(a, ",i=4096") || len(a) != len("s=")+24+len(",i=4096") {
		t.Errorf("unknown user's server-first %q does not look like a real one", a)
	}
	realFirst := first("alice@example.org")
	if len(realFirst) != len(a) {
		t.Errorf("real %q and fake %q differ in shape", realFirst, a)
	}
}

func TestSCRAMMalformed(t *testing.T) {
	tests := []struct {
		name        string
		first       string
		final       string // sent only if first succeeds; "" skips
		wantFirst   error
		wantFinal   error
		errContains string
	}{
		{"garbage", "hello", "", ErrMalformed, nil, "gs2 header"},
		{"channel binding p=", "p=tls-unique,,n=alice@example.org,r=abc", "", ErrMalformed, nil, "channel binding is not supported"},
		{"too few fields", "n,,n=alice@example.org", "", ErrMalformed, nil, ""},
		{"extension m=", "n,,m=ext,n=alice@example.org,r=abc", "", ErrMalformed, nil, ""},
		{"bad name encoding", "n,,n=ali=ce@example.org,r=abc", "", ErrMalformed, nil, ""},
		{"not UTF-8", "n,,n=\xff,r=abc", "", ErrMalformed, nil, "UTF-8"},
		{"too long", "n,,n=alice@example.org,r=" + strings.Repeat("a", maxSCRAMMsg), "", ErrMalformed, nil, "too long"},
		{"final garbage", "n,,n=alice@example.org,r=abc", "garbage", nil, ErrMalformed, ""},
		{"final wrong nonce", "n,,n=alice@example.org,r=abc", "c=biws,r=abcX,p=AAAA", nil, ErrMalformed, ""},
		{"final wrong channel binding", "n,,n=alice@example.org,r=abc", "c=eSws,r=abc,p=AAAA", nil, ErrMalformed, ""},
		{"final not UTF-8", "n,,n=alice@example.org,r=abc", "c=biws,r=\xff,p=AAAA", nil, ErrMalformed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			s, got := env.newServer(t, "SCRAM-SHA-256")
			_, _, err := s.Next([]byte(tc.first))
			if !errors.Is(err, tc.wantFirst) || (err == nil) != (tc.wantFirst == nil) {
				t.Fatalf("first: %v, want %v", err, tc.wantFirst)
			}
			if err == nil {
				_, _, err = s.Next([]byte(tc.final))
				if !errors.Is(err, tc.wantFinal) {
					t.Fatalf("final: %v, want %v", err, tc.wantFinal)
				}
			}
			if !strings.Contains(err.Error(), tc.errContains) {
				t.Errorf("error %q lacks %q", err, tc.errContains)
			}
			if _, _, err := s.Next([]byte("again")); !errors.Is(err, ErrMalformed) {
				t.Errorf("Next after failure: %v", err)
			}
			if len(*got) != 0 || len(env.a.th.entries) != 0 {
				t.Errorf("malformed exchange authenticated or counted")
			}
		})
	}
}

func TestSCRAMNonEmptyAck(t *testing.T) {
	env := newTestEnv(t)
	s, got := env.newServer(t, "SCRAM-SHA-256")
	conv := scramClient(t, "alice@example.org", alicePass, "").NewConversation()
	c1, _ := conv.Step("")
	s1, _, err := s.Next([]byte(c1))
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := conv.Step(string(s1))
	if _, _, err := s.Next([]byte(c2)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Next([]byte("x")); !errors.Is(err, ErrMalformed) {
		t.Errorf("non-empty response after server-final: %v", err)
	}
	if len(*got) != 0 {
		t.Errorf("done called: %+v", *got)
	}
}

func TestSCRAMThrottledAndUnavailable(t *testing.T) {
	t.Run("an account's failures do not lock it", func(t *testing.T) {
		env := newTestEnv(t)
		for i := range 12 {
			src := sourceKey(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
			r, _, _ := env.a.th.reserve(src, "user alice@example.org", 0)
			r.fail()
		}
		s, got := env.newServer(t, "SCRAM-SHA-256")
		conv := scramClient(t, "alice@example.org", alicePass, "").NewConversation()
		if n, err := scramRun(t, s, conv, true); n != 3 || err != nil || len(*got) != 1 {
			t.Errorf("step %d, %v, done %v; want a success", n, err, *got)
		}
	})
	t.Run("locked IP", func(t *testing.T) {
		env := newTestEnv(t)
		for range 10 {
			r, _, _ := env.a.th.reserve(sourceKey(ipA), "", 0)
			r.fail()
		}
		s, _ := env.newServer(t, "SCRAM-SHA-256")
		conv := scramClient(t, "alice@example.org", alicePass, "").NewConversation()
		if n, err := scramRun(t, s, conv, true); n != 0 || !errors.Is(err, ErrThrottled) {
			t.Errorf("step %d, %v; want ErrThrottled at once", n, err)
		}
		if env.accts.lookupCount() != 0 {
			t.Errorf("locked IP looked the account up")
		}
	})
	t.Run("IP locked by failures against the account, then unlocked", func(t *testing.T) {
		env := newTestEnv(t)
		for range 10 {
			r, _, _ := env.a.th.reserve(sourceKey(ipA), "user alice@example.org", 0)
			r.fail()
		}
		s, _ := env.newServer(t, "SCRAM-SHA-256")
		conv := scramClient(t, "alice@example.org", alicePass, "").NewConversation()
		if n, err := scramRun(t, s, conv, true); n != 0 || !errors.Is(err, ErrThrottled) {
			t.Errorf("step %d, %v; want ErrThrottled at once", n, err)
		}
		env.accts.bumpEpoch("alice@example.org")
		s, got := env.newServer(t, "SCRAM-SHA-256")
		conv = scramClient(t, "alice@example.org", alicePass, "").NewConversation()
		if n, err := scramRun(t, s, conv, true); n != 3 || err != nil || len(*got) != 1 {
			t.Errorf("after unlock: step %d, %v, done %v; want a success", n, err, *got)
		}
	})
	t.Run("store error", func(t *testing.T) {
		env := newTestEnv(t)
		env.accts.err = errors.New("disk on fire")
		s, _ := env.newServer(t, "SCRAM-SHA-256")
		conv := scramClient(t, "alice@example.org", alicePass, "").NewConversation()
		if n, err := scramRun(t, s, conv, true); n != 0 || !errors.Is(err, ErrUnavailable) {
			t.Errorf("step %d, %v; want ErrUnavailable", n, err)
		}
		if len(env.a.th.entries) != 0 {
			t.Errorf("server fault counted")
		}
	})
}

func TestSCRAMChannelBindingRefused(t *testing.T) {
	env := newTestEnv(t)
	s, _ := env.newServer(t, "SCRAM-SHA-256")
	c := scramClient(t, "alice@example.org", alicePass, "")
	conv := c.NewConversationWithChannelBinding(scram.ChannelBinding{Type: scram.ChannelBindingTLSExporter, Data: []byte("cb")})
	n, err := scramRun(t, s, conv, true)
	if n != 0 || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "channel binding is not supported") {
		t.Errorf("step %d, %v; want a clear channel binding error", n, err)
	}
}
