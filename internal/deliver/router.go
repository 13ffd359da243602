// Package deliver routes accepted mail, whatever protocol brought it: local
// recipients are resolved to accounts (exact address, subaddress, aliases,
// catch-all), others go to the outbound queue; Deliver stores one message
// for all of them in one store transaction.
package deliver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"postel/internal/srs"
	"postel/internal/store"
)

// Errors Resolve returns (besides ErrBadAddress and store failures).
var (
	// ErrNoSuchUser: the domain is local but nothing accepts the address.
	ErrNoSuchUser = errors.New("deliver: no such user")
	// ErrNotLocal: the domain is not one this server is final destination for.
	ErrNotLocal = errors.New("deliver: domain not local")
)

// maxAliasDepth bounds alias expansion: an alias target may itself be an
// alias, at most this many levels deep.
const maxAliasDepth = 10

// Recipients is what the Router reads of the store's directory.
type Recipients interface {
	HasDomain(ctx context.Context, name string) (bool, error)
	Account(ctx context.Context, address string) (store.Account, error)
	Alias(ctx context.Context, address string) (store.Alias, error)
}

// Router resolves recipient addresses against the store.
type Router struct {
	st Recipients
	// SRS, when set, routes the SRS addresses it made (mail forwarded by
	// an alias had its envelope sender rewritten into one, so bounces come
	// back to it) to the original sender.
	SRS *srs.SRS
}

// NewRouter returns a Router over st.
func NewRouter(st Recipients) *Router {
	return &Router{st: st}
}

// Route is where mail for one recipient address goes.
type Route struct {
	Local  []store.Account // enabled accounts, each once
	Remote []string        // external addresses (forwarding), each once
	// SRS: the address was an SRS address of ours, Remote its original
	// sender. Only bounces may go there (see smtpserver).
	SRS bool
}

// Resolve routes one recipient address. The address is normalized (see
// Normalize); a domain that is not local gives ErrNotLocal. In a local
// domain, the first of these that exists wins:
//
//  1. an enabled account with that address;
//  2. an alias with that address;
//  3. for "user+tag@domain", the account or alias "user@domain"
//     (subaddressing, RFC 5233 style);
//  4. the domain's catch-all alias "@domain".
//
// Alias targets are resolved the same way, recursively (at most
// maxAliasDepth levels; an address seen before is skipped, so loops end);
// targets outside local domains become Remote. Disabled accounts, unknown
// targets and loops add nothing; when nothing at all is found the result is
// ErrNoSuchUser.
func (r *Router) Resolve(ctx context.Context, addr string) (Route, error) {
	local, domain, err := split(addr)
	if err != nil {
		return Route{}, err
	}
	ok, err := r.st.HasDomain(ctx, domain)
	if err != nil {
		return Route{}, err
	}
	if !ok {
		return Route{}, ErrNotLocal
	}
	if r.SRS != nil && srs.IsSRS(local) {
		return r.resolveSRS(ctx, addr)
	}
	return r.resolveLocal(ctx, local, domain)
}

// resolveLocal resolves local@domain, domain being local.
func (r *Router) resolveLocal(ctx context.Context, local, domain string) (Route, error) {
	rs := &resolution{r: r, seen: map[string]bool{}, ids: map[int64]bool{}, remote: map[string]bool{}}
	if err := rs.resolveLocal(ctx, local, domain, 0); err != nil {
		return Route{}, err
	}
	if len(rs.route.Local) == 0 && len(rs.route.Remote) == 0 {
		return Route{}, ErrNoSuchUser
	}
	return rs.route, nil
}

// resolveSRS routes an SRS address of a local domain to the address it
// stands for: a remote one, or a local one resolved as any recipient. An
// address whose hash or age does not check was not made here, or too long
// ago: no such user.
func (r *Router) resolveSRS(ctx context.Context, addr string) (Route, error) {
	orig, err := r.SRS.Reverse(addr, time.Now())
	if err != nil {
		return Route{}, fmt.Errorf("%w: %v", ErrNoSuchUser, err)
	}
	local, domain, err := split(orig)
	if err != nil {
		return Route{}, ErrNoSuchUser
	}
	ok, err := r.st.HasDomain(ctx, domain)
	if err != nil {
		return Route{}, err
	}
	if !ok {
		return Route{Remote: []string{orig}, SRS: true}, nil
	}
	route, err := r.resolveLocal(ctx, local, domain)
	route.SRS = err == nil
	return route, err
}

// resolution is the state of one Resolve call.
type resolution struct {
	r      *Router
	route  Route
	seen   map[string]bool // addresses (and "@domain") already expanded
	ids    map[int64]bool  // accounts already in route.Local
	remote map[string]bool // lower-cased addresses already in route.Remote
}

// resolveLocal resolves local@domain, domain being local.
func (rs *resolution) resolveLocal(ctx context.Context, local, domain string, depth int) error {
	addr := local + "@" + domain
	found, err := rs.exact(ctx, addr, depth)
	if err != nil || found {
		return err
	}
	if base, ok := baseAddress(local, domain); ok {
		found, err := rs.exact(ctx, base, depth)
		if err != nil || found {
			return err
		}
	}
	_, err = rs.alias(ctx, "@"+domain, depth)
	return err
}

// exact adds the account or alias named addr; found tells whether one exists
// (even if it adds nothing, as a disabled account or an alias loop).
func (rs *resolution) exact(ctx context.Context, addr string, depth int) (found bool, err error) {
	acct, err := rs.r.st.Account(ctx, addr)
	switch {
	case err == nil:
		if !acct.Disabled && !rs.ids[acct.ID] {
			rs.ids[acct.ID] = true
			rs.route.Local = append(rs.route.Local, acct)
		}
		return true, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	return rs.alias(ctx, addr, depth)
}

// alias expands the alias named addr, if there is one.
func (rs *resolution) alias(ctx context.Context, addr string, depth int) (found bool, err error) {
	if rs.seen[addr] {
		return true, nil // a loop, or a target reached twice: nothing new
	}
	a, err := rs.r.st.Alias(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	rs.seen[addr] = true
	if depth >= maxAliasDepth {
		return true, nil
	}
	for _, t := range a.Targets {
		if err := rs.target(ctx, t, depth+1); err != nil {
			return true, err
		}
	}
	return true, nil
}

// target resolves one alias target.
func (rs *resolution) target(ctx context.Context, t string, depth int) error {
	local, domain, err := split(t)
	if err != nil {
		return nil // a malformed target routes nowhere
	}
	ok, err := rs.r.st.HasDomain(ctx, domain)
	if err != nil {
		return err
	}
	if ok {
		return rs.resolveLocal(ctx, local, domain, depth)
	}
	// Remote: keep the local part's case, which the remote server may honour.
	key := local + "@" + domain
	if !rs.remote[key] {
		rs.remote[key] = true
		i := strings.LastIndexByte(t, '@')
		rs.route.Remote = append(rs.route.Remote, t[:i]+"@"+domain)
	}
	return nil
}

// MaySendAs reports whether acct may use addr as envelope sender or in the
// From: header: its own address, a subaddress of it, or an alias that lists
// the account directly among its targets. Comparisons ignore case. Disabled
// accounts may send as nothing.
func (r *Router) MaySendAs(ctx context.Context, acct store.Account, addr string) (bool, error) {
	if acct.Disabled {
		return false, nil
	}
	own := strings.ToLower(acct.Address)
	local, domain, err := split(addr)
	if err != nil {
		return false, nil
	}
	norm := local + "@" + domain
	base, sub := baseAddress(local, domain)
	if norm == own || (sub && base == own) {
		return true, nil
	}
	candidates := []string{norm}
	if sub {
		candidates = append(candidates, base)
	}
	for _, c := range candidates {
		a, err := r.st.Alias(ctx, c)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		for _, t := range a.Targets {
			if strings.EqualFold(t, own) {
				return true, nil
			}
		}
	}
	return false, nil
}
