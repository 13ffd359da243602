package store

import (
	"slices"
	"testing"
)

func TestUIDListCoding(t *testing.T) {
	for _, uids := range [][]uint32{nil, {1}, {1, 2, 3}, {7, 3, 1<<32 - 1, 1}} {
		got, err := DecodeUIDs(EncodeUIDs(uids))
		if err != nil || !slices.Equal(got, uids) {
			t.Errorf("%v -> %v, %v", uids, got, err)
		}
	}
	// A truncated varint, UID 0, a negative UID.
	for _, bad := range [][]byte{{0x80}, {0x00}, {0x01}} {
		if _, err := DecodeUIDs(bad); err == nil {
			t.Errorf("DecodeUIDs(%x) accepted", bad)
		}
	}
}
