//go:build !linux

package store

func (b *FileBlobs) syncBatch(ids []int64, dirs map[string]bool) error {
	return b.syncEach(ids, dirs)
}
