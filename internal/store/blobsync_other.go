//go:build !linux

package store

func (b *FileBlobs) syncBatch(ids []int64) error {
	return b.syncEach(ids)
}
