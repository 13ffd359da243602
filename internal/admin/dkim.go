package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"postel/internal/dkim"
	"postel/internal/sharedfiles"
	"postel/internal/store"
)

// DKIMRecord is a DNS TXT record to publish for one of a domain's DKIM
// keys.
type DKIMRecord struct {
	Name  string `json:"name"`  // SELECTOR._domainkey.DOMAIN.
	Value string `json:"value"` // v=DKIM1; k=...; p=...
	Zone  string `json:"zone"`  // as a zone-file line
}

// DKIMKeys is a domain's DKIM records.
type DKIMKeys struct {
	Domain  string       `json:"domain"`
	Records []DKIMRecord `json:"records"`
	// Shared: the keys are in the store too (store.SharedFiles), for
	// every node of it to take at its next reload or start.
	Shared bool `json:"shared,omitempty"`
}

// dkimDir is where the keys live: data_dir/dkim.
func (a *Admin) dkimDir() string { return filepath.Join(a.dataDir, "dkim") }

// GenerateDKIM makes a domain's DKIM keys (Ed25519 and RSA-2048) and
// returns the records to publish. A running server signs with them after
// a reload or a restart. On a store the nodes share (store.SharedFiles),
// the keys are put into the store as well, where every node takes them at
// its next reload or start (internal/sharedfiles); keys another node made
// already are not made again here.
func (a *Admin) GenerateDKIM(ctx context.Context, domain string) (DKIMKeys, error) {
	if _, err := store.CanonicalDomain(domain); err != nil {
		return DKIMKeys{}, refusal(KindInvalid, "bad domain name %q", domain)
	}
	sf, shared := a.st.(store.SharedFiles)
	var prefix string
	if shared {
		dir, err := dkim.DomainDir(domain)
		if err != nil {
			return DKIMKeys{}, refusal(KindInvalid, "bad domain name %q", domain)
		}
		prefix = "dkim/" + dir + "/"
		if err := a.refuseOtherNodesKeys(ctx, sf, domain, prefix); err != nil {
			return DKIMKeys{}, err
		}
	}
	recs, err := dkim.Generate(a.dkimDir(), domain)
	if errors.Is(err, fs.ErrExist) {
		d := shownDomain(domain)
		return DKIMKeys{}, refusal(KindExists, "%s already has DKIM keys; `postel dkim show %s` prints their records", d, d)
	}
	keys, err := dkimKeys(domain, recs, err)
	if err != nil || !shared {
		return keys, err
	}
	if _, err := sharedfiles.Publish(ctx, sf, a.dataDir, prefix); err != nil {
		var conflict *sharedfiles.ConflictError
		if errors.As(err, &conflict) { // another node made keys meanwhile
			return DKIMKeys{}, fmt.Errorf("the DKIM keys of %s were made in %s but not put into the store: %w", shownDomain(domain), a.dkimDir(), err)
		}
		return DKIMKeys{}, fmt.Errorf("the DKIM keys of %s were made in %s but not put into the store (the next postel reload or start of this node puts them there): %w",
			shownDomain(domain), a.dkimDir(), err)
	}
	keys.Shared = true
	return keys, nil
}

// refuseOtherNodesKeys refuses to make keys for a domain whose keys the
// store holds while this data dir has none: another node made them, and
// two nodes must sign with the same ones.
func (a *Admin) refuseOtherNodesKeys(ctx context.Context, sf store.SharedFiles, domain, prefix string) error {
	stored, err := sf.SharedFiles(ctx)
	if err != nil {
		return err
	}
	if !hasPrefix(stored, prefix) {
		return nil
	}
	local, err := sharedfiles.Local(a.dataDir)
	if err != nil {
		return err
	}
	if hasPrefix(local, prefix) {
		return nil // dkim.Generate says they exist
	}
	d := shownDomain(domain)
	return refusal(KindExists, "%s already has DKIM keys, made on another node: `postel reload` (or the next start) brings them "+
		"to this node; then `postel dkim show %s` prints their records", d, d)
}

func hasPrefix(files map[string][]byte, prefix string) bool {
	for name := range files {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// DKIMRecords returns the records of a domain's DKIM keys.
func (a *Admin) DKIMRecords(ctx context.Context, domain string) (DKIMKeys, error) {
	if _, err := store.CanonicalDomain(domain); err != nil {
		return DKIMKeys{}, refusal(KindInvalid, "bad domain name %q", domain)
	}
	recs, err := dkim.Records(a.dkimDir(), domain)
	if errors.Is(err, fs.ErrNotExist) {
		d := shownDomain(domain)
		return DKIMKeys{}, refusal(KindNotFound, "%s has no DKIM keys; `postel dkim gen %s` makes them", d, d)
	}
	return dkimKeys(domain, recs, err)
}

func dkimKeys(domain string, recs []dkim.Record, err error) (DKIMKeys, error) {
	if err != nil {
		return DKIMKeys{}, err
	}
	out := DKIMKeys{Domain: shownDomain(domain), Records: []DKIMRecord{}}
	for _, r := range recs {
		out.Records = append(out.Records, DKIMRecord{Name: r.Name, Value: r.Value, Zone: r.Zone()})
	}
	return out, nil
}
