package pop3server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"postel/internal/store"
)

// MaildropLocks hold each account's maildrop for one session at a time
// (RFC 1939 §8: a second session gets "-ERR [IN-USE]", RFC 2449 §8.1.1).
type MaildropLocks interface {
	// Lock takes the account's maildrop; ErrInUse when another session
	// holds it. release gives it back, once, at the end of the session.
	Lock(ctx context.Context, accountID int64) (release func(), err error)
}

// ErrInUse: another session holds the maildrop.
var ErrInUse = errors.New("pop3: maildrop in use")

// LockWait is how long a login waits for a maildrop another session holds
// before it is told IN-USE: a client whose connection dropped and that
// logs in again at once finds its old session ending, which gives the
// maildrop back as soon as it sees its socket closed (RFC 1939 §6: with
// no change applied).
const LockWait = 2 * time.Second

// ProcessLocks are the maildrop locks of one process: enough when one
// node serves POP3. The default.
type ProcessLocks struct {
	mu     sync.Mutex
	locked map[int64]chan struct{} // closed when the maildrop is given back
}

// NewProcessLocks returns locks held in this process's memory.
func NewProcessLocks() *ProcessLocks {
	return &ProcessLocks{locked: map[int64]chan struct{}{}}
}

// Lock implements MaildropLocks, waiting up to LockWait for a holder to
// give the maildrop back.
func (p *ProcessLocks) Lock(ctx context.Context, accountID int64) (func(), error) {
	timer := time.NewTimer(LockWait)
	defer timer.Stop()
	for {
		p.mu.Lock()
		freed, held := p.locked[accountID]
		if !held {
			freed = make(chan struct{})
			p.locked[accountID] = freed
			p.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					p.mu.Lock()
					delete(p.locked, accountID)
					p.mu.Unlock()
					close(freed)
				})
			}, nil
		}
		p.mu.Unlock()
		select {
		case <-freed:
		case <-timer.C:
			return nil, ErrInUse
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// StoreLocks are maildrop locks every node sharing the store sees: a
// store.Leases lease per account, held by this session and renewed while
// it lives. A node that dies holds its maildrops until their lease runs
// out (TTL); a session that ends gives its maildrop back at once.
type StoreLocks struct {
	st  store.Leases
	ttl time.Duration
	log *slog.Logger
	// owner names this process; each lock adds a number of its own.
	owner string
	mu    sync.Mutex
	n     uint64
}

// NewStoreLocks returns locks kept as leases in st, of ttl (default one
// minute; renewed at a third of it).
func NewStoreLocks(st store.Leases, ttl time.Duration, log *slog.Logger) *StoreLocks {
	if ttl <= 0 {
		ttl = time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	var b [6]byte
	rand.Read(b[:])
	return &StoreLocks{st: st, ttl: ttl, log: log, owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))}
}

// Lock implements MaildropLocks.
func (l *StoreLocks) Lock(ctx context.Context, accountID int64) (func(), error) {
	l.mu.Lock()
	l.n++
	owner := fmt.Sprintf("%s#%d", l.owner, l.n)
	l.mu.Unlock()
	name := fmt.Sprintf("pop3/maildrop/%d", accountID)
	// Up to LockWait for a session (maybe on another node) that is
	// ending to give the maildrop back.
	deadline := time.Now().Add(LockWait)
	var err error
	for {
		err = l.st.AcquireLease(ctx, name, owner, l.ttl)
		if !errors.Is(err, store.ErrInUse) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if errors.Is(err, store.ErrInUse) {
		return nil, ErrInUse
	} else if err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				rctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
				if err := l.st.AcquireLease(rctx, name, owner, l.ttl); err != nil {
					l.log.Warn("renewing a maildrop lock", "account_id", accountID, "err", err)
				}
				cancel()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := l.st.ReleaseLease(rctx, name, owner); err != nil {
				l.log.Warn("releasing a maildrop lock (it runs out by itself)", "account_id", accountID, "err", err)
			}
		})
	}, nil
}
