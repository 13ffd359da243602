package auth

import (
	"context"
	"strings"
	"time"
)

// Failed logins shared between the nodes of one store. The Throttle counts
// what this process sees; with a store.LoginFailures (ThrottleConfig.Shared)
// each failure is also recorded in the store, and a source whose failures
// on every node together reach MaxFailures within Window is refused here
// too, before its account is looked up or its password hashed. A success
// forgets the source's failures against that account on every node, as
// the local count does; an unlock (a moved AuthEpoch) has the store forget
// every failure against the account. A store error never refuses a login
// and never lets more through than the local count allows: the local
// Throttle decides alone until the store answers again.

// sharedBlocked reports whether src's failures on every node reach
// MaxFailures within Window.
func (a *Authenticator) sharedBlocked(ctx context.Context, src string) (refusal, bool) {
	sh := a.th.cfg.Shared
	if sh == nil || src == "" {
		return refusal{}, false
	}
	n, err := sh.CountLoginFailures(ctx, src, a.th.now().Add(-a.th.cfg.Window))
	if err != nil {
		a.log.Warn("auth: counting the source's failures on every node", "source", src, "err", err)
		return refusal{}, false
	}
	if n >= a.th.cfg.MaxFailures {
		return refusal{limit: limitShared}, true
	}
	return refusal{}, false
}

// sharedFail records a failure of src against acct (throttle keys, acct
// maybe "") for the other nodes; the store gets the account's address.
func (a *Authenticator) sharedFail(ctx context.Context, src, acct string) {
	sh := a.th.cfg.Shared
	if sh == nil || src == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := sh.AddLoginFailure(ctx, src, strings.TrimPrefix(acct, "user "), a.th.now()); err != nil {
		a.log.Warn("auth: recording a failure for the other nodes", "source", src, "err", err)
	}
}

// sharedSucceed forgets src's failures against acct on every node.
func (a *Authenticator) sharedSucceed(ctx context.Context, src, acct string) {
	sh := a.th.cfg.Shared
	if sh == nil || src == "" || acct == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := sh.ForgetLoginFailures(ctx, src, strings.TrimPrefix(acct, "user ")); err != nil {
		a.log.Warn("auth: forgiving a source's failures on every node", "source", src, "err", err)
	}
}
