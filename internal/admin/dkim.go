package admin

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"

	"postel/internal/dkim"
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
}

// dkimDir is where the keys live: data_dir/dkim.
func (a *Admin) dkimDir() string { return filepath.Join(a.dataDir, "dkim") }

// GenerateDKIM makes a domain's DKIM keys (Ed25519 and RSA-2048) and
// returns the records to publish. A running server signs with them after
// a restart.
func (a *Admin) GenerateDKIM(ctx context.Context, domain string) (DKIMKeys, error) {
	if _, err := store.CanonicalDomain(domain); err != nil {
		return DKIMKeys{}, refusal(KindInvalid, "bad domain name %q", domain)
	}
	recs, err := dkim.Generate(a.dkimDir(), domain)
	if errors.Is(err, fs.ErrExist) {
		d := shownDomain(domain)
		return DKIMKeys{}, refusal(KindExists, "%s already has DKIM keys; `postel dkim show %s` prints their records", d, d)
	}
	return dkimKeys(domain, recs, err)
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
