package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// EncodeUIDs packs UIDs as varint deltas (zig-zag, so any order survives):
// the form the stores keep the UIDs of a change feed's row in.
func EncodeUIDs(uids []uint32) []byte {
	b := make([]byte, 0, len(uids)*2)
	var prev int64
	for _, u := range uids {
		b = binary.AppendVarint(b, int64(u)-prev)
		prev = int64(u)
	}
	return b
}

// DecodeUIDs reverses EncodeUIDs; a truncated list or a UID outside
// 1..2^32-1 is an error.
func DecodeUIDs(b []byte) ([]uint32, error) {
	var out []uint32
	var prev int64
	for len(b) > 0 {
		d, n := binary.Varint(b)
		if n <= 0 {
			return nil, errors.New("store: malformed UID list")
		}
		b = b[n:]
		prev += d
		if prev <= 0 || prev > 1<<32-1 {
			return nil, fmt.Errorf("store: UID %d out of range", prev)
		}
		out = append(out, uint32(prev))
	}
	return out, nil
}
