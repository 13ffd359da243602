package admin

import (
	"context"
	"errors"
	"strings"
	"time"

	"postel/internal/store"
)

// Domain is a local domain.
type Domain struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// Alias is an address (or "@domain", the domain's catch-all) and where
// its mail goes.
type Alias struct {
	Address string   `json:"address"`
	Targets []string `json:"targets"`
}

// AddDomain makes the server final destination for a domain.
func (a *Admin) AddDomain(ctx context.Context, name string) (Domain, error) {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return Domain{}, refusal(KindInvalid, "bad domain name %q", name)
	}
	err = a.st.AddDomain(ctx, d)
	if errors.Is(err, store.ErrExists) {
		return Domain{}, refusal(KindExists, "domain %s exists already", d)
	} else if err != nil {
		return Domain{}, err
	}
	return Domain{Name: d, Created: time.Now().UTC().Truncate(time.Second)}, nil
}

// DeleteDomain removes a local domain without accounts; its aliases go
// with it.
func (a *Admin) DeleteDomain(ctx context.Context, name string) (Domain, error) {
	d, err := store.CanonicalDomain(name)
	if err != nil {
		return Domain{}, refusal(KindNotFound, "no domain %s", shownDomain(name))
	}
	err = a.st.DeleteDomain(ctx, d)
	switch {
	case errors.Is(err, store.ErrInUse):
		return Domain{}, a.domainInUse(ctx, d)
	case errors.Is(err, store.ErrNotFound):
		return Domain{}, refusal(KindNotFound, "no domain %s", d)
	case err != nil:
		return Domain{}, err
	}
	return Domain{Name: d}, nil
}

// domainInUse words the refusal to delete a domain with accounts, naming
// a few of them.
func (a *Admin) domainInUse(ctx context.Context, d string) error {
	all, err := a.st.ListAccounts(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, acct := range all {
		if acct.Domain == d {
			names = append(names, acct.Address)
		}
	}
	list := strings.Join(names, ", ")
	if len(names) > 3 {
		list = strings.Join(names[:3], ", ") + ", ..."
	}
	return refusal(KindInUse, "domain %s has accounts (%s); delete them first", d, list)
}

// Domains lists the local domains by name.
func (a *Admin) Domains(ctx context.Context) ([]Domain, error) {
	all, err := a.st.ListDomains(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Domain, 0, len(all))
	for _, d := range all {
		out = append(out, Domain{Name: d.Name, Created: d.Created.UTC()})
	}
	return out, nil
}

// AddAlias makes address (in a local domain; "@domain" for the catch-all)
// deliver to targets too; targets it has already are kept.
func (a *Admin) AddAlias(ctx context.Context, address string, targets []string) (Alias, error) {
	addr, err := store.CanonicalAddress(address, true)
	if err != nil {
		return Alias{}, refusal(KindInvalid, "bad alias %q: want user@domain, or @domain for the domain's catch-all", address)
	}
	if len(targets) == 0 {
		return Alias{}, refusal(KindInvalid, "alias %s: no target", addr)
	}
	for _, t := range targets {
		if _, err := store.CanonicalAddress(t, false); err != nil {
			return Alias{}, refusal(KindInvalid, "bad target %q: want user@domain", t)
		}
	}
	d := store.DomainOf(addr)
	if ok, err := a.st.HasDomain(ctx, d); err != nil {
		return Alias{}, err
	} else if !ok {
		return Alias{}, refusal(KindNotFound, "%s is not a local domain: add it first (postel domain add %s)", d, d)
	}
	for _, t := range targets {
		if err := a.st.AddAlias(ctx, addr, t); err != nil && !errors.Is(err, store.ErrExists) {
			return Alias{}, err
		}
	}
	al, err := a.st.Alias(ctx, addr)
	if err != nil {
		return Alias{}, err
	}
	return Alias(al), nil
}

// DeleteAlias removes one target of an alias, or the whole alias when
// target is "".
func (a *Admin) DeleteAlias(ctx context.Context, address, target string) (Alias, error) {
	addr, err := store.CanonicalAddress(address, true)
	if err != nil {
		return Alias{}, refusal(KindNotFound, "no alias %s", shown(address))
	}
	err = a.st.DeleteAlias(ctx, addr, target)
	switch {
	case errors.Is(err, store.ErrNotFound) && target != "":
		if _, aerr := a.st.Alias(ctx, addr); aerr == nil {
			return Alias{}, refusal(KindNotFound, "alias %s has no target %s", addr, shown(target))
		}
		return Alias{}, refusal(KindNotFound, "no alias %s", addr)
	case errors.Is(err, store.ErrNotFound):
		return Alias{}, refusal(KindNotFound, "no alias %s", addr)
	case errors.Is(err, store.ErrInvalid):
		return Alias{}, refusal(KindInvalid, "bad target %q: want user@domain", target)
	case err != nil:
		return Alias{}, err
	}
	// What is left of it, if anything.
	al, err := a.st.Alias(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return Alias{Address: addr, Targets: []string{}}, nil
	}
	return Alias(al), err
}

// Aliases lists every alias by address.
func (a *Admin) Aliases(ctx context.Context) ([]Alias, error) {
	all, err := a.st.ListAliases(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Alias, 0, len(all))
	for _, al := range all {
		out = append(out, Alias(al))
	}
	return out, nil
}
