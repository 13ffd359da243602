package postgres

import (
	"bytes"
	"context"
	"fmt"

	"postel/internal/store"
)

// The secrets of the data_dir every node holds alike (migration 4):
// store.SharedFiles.

var _ store.SharedFiles = (*Store)(nil)

// PutSharedFile implements store.SharedFiles: the row is inserted unless
// one of that name is there; then the bytes stored decide between nil
// (the same) and ErrExists. A row is never updated.
func (s *Store) PutSharedFile(ctx context.Context, name string, data []byte) error {
	if err := store.CheckSharedFileName(name); err != nil {
		return err
	}
	if len(data) == 0 || len(data) > store.MaxSharedFileSize {
		return fmt.Errorf("%w: shared file %s of %d bytes (1 to %d)", store.ErrInvalid, name, len(data), store.MaxSharedFileSize)
	}
	return s.write(ctx, func(w *wtx) error {
		tag, err := w.tx.Exec(w.ctx, `INSERT INTO shared_files (name, data) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, data)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		var have []byte
		if err := w.tx.QueryRow(w.ctx, `SELECT data FROM shared_files WHERE name = $1`, name).Scan(&have); err != nil {
			return err
		}
		if !bytes.Equal(have, data) {
			return fmt.Errorf("%w: shared file %s holds other content", store.ErrExists, name)
		}
		return nil
	})
}

// SharedFiles implements store.SharedFiles.
func (s *Store) SharedFiles(ctx context.Context) (map[string][]byte, error) {
	var out map[string][]byte
	err := s.read(ctx, func(ctx context.Context, q querier) error {
		out = map[string][]byte{}
		rows, err := q.Query(ctx, `SELECT name, data FROM shared_files`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var data []byte
			if err := rows.Scan(&name, &data); err != nil {
				return err
			}
			out[name] = data
		}
		return rows.Err()
	})
	return out, err
}
