package store

import (
	"context"
	"errors"
)

// AccountEnd says why WatchAccount ended the sessions of an account.
type AccountEnd int

const (
	AccountDeleted AccountEnd = iota + 1
	AccountDisabled
)

func (e AccountEnd) String() string {
	switch e {
	case AccountDeleted:
		return "deleted"
	case AccountDisabled:
		return "disabled"
	}
	return "unknown"
}

// WatchAccount follows one account for a session logged in to it: when the
// account is deleted or disabled, it calls end once, from its own
// goroutine. It re-reads the account at each ChangeAccount, and once at the
// start: the subscription begins before that read, so a change committed
// after the caller's own look at the account (its login) is never missed.
//
// stop ends the watch, waiting for an end under way (so end must not
// block); end is not called once stop has returned. A failed
// read (other than ErrNotFound) leaves the session alone until the next
// ChangeAccount: a passing database error must not log everyone out.
// AccountFeed is what WatchAccount reads: the feed and the account.
type AccountFeed interface {
	Feed
	AccountByID(ctx context.Context, id int64) (Account, error)
}

func WatchAccount(st AccountFeed, accountID int64, end func(AccountEnd)) (stop func()) {
	sub := st.Subscribe(accountID)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sub.Close()
		// ended reports whether the account is gone or disabled, and
		// then tells end.
		ended := func() bool {
			a, err := st.AccountByID(ctx, accountID)
			switch {
			case ctx.Err() != nil:
				return true // stopped: end must not be called
			case errors.Is(err, ErrNotFound):
				end(AccountDeleted)
				return true
			case err == nil && a.Disabled:
				end(AccountDisabled)
				return true
			}
			return false
		}
		if ended() {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Ready():
				for _, c := range sub.Next() {
					if c.Kind == ChangeAccount || c.Kind == ChangeResync {
						if ended() {
							return
						}
						break
					}
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
