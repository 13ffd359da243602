package server

import (
	"context"
	"time"

	"postel/internal/sharedfiles"
	"postel/internal/srs"
	"postel/internal/store"
)

// objectIDKeyFile is the secret of the IMAP OBJECTID identifiers, in
// data_dir.
const objectIDKeyFile = "objectid.key"

// sharedFilesTimeout bounds one Sync of the shared secrets.
const sharedFilesTimeout = time.Minute

// syncSharedFiles brings the secrets every node of the store holds alike
// (the DKIM keys under data_dir/dkim, data_dir/srs.key and
// data_dir/objectid.key) into step between
// data_dir and the store, when the store carries them (store.SharedFiles:
// PostgreSQL; on SQLite one machine serves, and nothing is done). It runs
// before the DKIM keys and the SRS secret are loaded, at Start and at each
// Reload. At Start with SRS on (makeSRS), a secret neither side has is made
// in the store first, so that nodes starting together agree on one. A
// secret present in both with different contents is an error naming it
// (sharedfiles.ConflictError): neither copy is replaced.
func (s *Server) syncSharedFiles(makeSRS bool) error {
	st, ok := s.st.(store.SharedFiles)
	if !ok {
		return nil
	}
	// The OBJECTID secret is always made: every node must derive the
	// same IMAP identifiers (imapserver/objectid.go).
	opts := sharedfiles.Options{Make: map[string]func() ([]byte, error){objectIDKeyFile: srs.NewKey}}
	if makeSRS {
		opts.Make["srs.key"] = srs.NewKey
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedFilesTimeout)
	defer cancel()
	res, err := sharedfiles.Sync(ctx, st, s.cfg.DataDir, opts)
	if len(res.Fetched)+len(res.Published)+len(res.Created) > 0 {
		s.log.Info("shared files: data_dir and the store in step", "fetched", res.Fetched, "published", res.Published, "created", res.Created)
	}
	return err
}
