package imap

import (
	"reflect"
	"testing"
)

func TestParseSeqSet(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want SeqSet
		str  string
	}{
		{"1", SeqSet{Ranges: []SeqRange{{1, 1}}}, "1"},
		{"*", SeqSet{Ranges: []SeqRange{{0, 0}}}, "*"},
		{"$", SeqSet{Saved: true}, "$"},
		{"1:*", SeqSet{Ranges: []SeqRange{{1, 0}}}, "1:*"},
		{"4:2", SeqSet{Ranges: []SeqRange{{4, 2}}}, "4:2"},
		{"2,4:7,9,12:*", SeqSet{Ranges: []SeqRange{{2, 2}, {4, 7}, {9, 9}, {12, 0}}}, "2,4:7,9,12:*"},
		{"*:4,007", SeqSet{Ranges: []SeqRange{{0, 4}, {7, 7}}}, "*:4,7"},
		{"4294967295", SeqSet{Ranges: []SeqRange{{4294967295, 4294967295}}}, "4294967295"},
	} {
		got, err := ParseSeqSet(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSeqSet(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if s := got.String(); s != tt.str {
			t.Errorf("String() = %q, want %q", s, tt.str)
		}
	}
	for _, in := range []string{"", "0", "1:0", "4294967296", "1,", ",1", "1::2", "1:", "a", "$,1", "1,$", "1 2", "**", "-1"} {
		if got, err := ParseSeqSet(in); err == nil {
			t.Errorf("ParseSeqSet(%q) = %+v, want an error", in, got)
		}
	}
}

func TestSeqSetContains(t *testing.T) {
	s := set("2,4:7,12:*")
	for _, tt := range []struct {
		n, max uint32
		want   bool
	}{
		{1, 20, false}, {2, 20, true}, {3, 20, false}, {4, 20, true}, {7, 20, true}, {8, 20, false},
		{11, 20, false}, {12, 20, true}, {20, 20, true}, {21, 20, false},
		// "12:*" with only 10 messages is 10:12.
		{10, 10, true}, {9, 10, false},
	} {
		if got := s.Contains(tt.n, tt.max); got != tt.want {
			t.Errorf("Contains(%d, %d) = %v", tt.n, tt.max, got)
		}
	}
	if (SeqSet{Saved: true}).Contains(1, 1) {
		t.Error("$ contains 1")
	}
}

func TestSeqSetExpand(t *testing.T) {
	for _, tt := range []struct {
		set   string
		max   uint32
		limit int
		want  []uint32
		err   bool
	}{
		{"1:*", 5, 10, []uint32{1, 2, 3, 4, 5}, false},
		{"5:3,1,4,9:*", 10, 10, []uint32{1, 3, 4, 5, 9, 10}, false},
		{"*", 0, 10, []uint32{}, false},
		{"3:*", 2, 10, []uint32{2}, false},
		{"100:200", 50, 10, []uint32{}, false},
		{"1:4294967295", 4294967295, 100, nil, true},
		{"1:*", 11, 10, nil, true},
		{"1:5,3:9", 100, 9, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9}, false},
		{"4294967295", 4294967295, 1, []uint32{4294967295}, false},
		{"$", 10, 10, nil, true},
	} {
		s := SeqSet{Saved: true}
		if tt.set != "$" {
			s = set(tt.set)
		}
		got, err := s.Expand(tt.max, tt.limit)
		if (err != nil) != tt.err || (!tt.err && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("%s.Expand(%d, %d) = %v, %v; want %v", tt.set, tt.max, tt.limit, got, err, tt.want)
		}
	}
}

func TestSeqSetFromNums(t *testing.T) {
	for _, tt := range []struct {
		nums []uint32
		want string
	}{
		{[]uint32{3, 1, 2, 7}, "1:3,7"},
		{[]uint32{5}, "5"},
		{[]uint32{1, 1, 2, 4, 5, 0, 9}, "1:2,4:5,9"},
		{[]uint32{4294967295, 4294967294}, "4294967294:4294967295"},
		{nil, ""},
	} {
		if got := SeqSetFromNums(tt.nums).String(); got != tt.want {
			t.Errorf("SeqSetFromNums(%v) = %q, want %q", tt.nums, got, tt.want)
		}
	}
}

func FuzzSeqSet(f *testing.F) {
	for _, s := range []string{"1", "*", "$", "1:*", "2,4:7,9,12:*", "4294967295:1", "0", "1,,2"} {
		f.Add(s, uint32(10))
	}
	f.Fuzz(func(t *testing.T, s string, max uint32) {
		set, err := ParseSeqSet(s)
		if err != nil {
			return
		}
		again, err := ParseSeqSet(set.String())
		if err != nil || !reflect.DeepEqual(again, set) {
			t.Fatalf("%q: String %q parses to %+v, %v", s, set.String(), again, err)
		}
		max %= 200
		nums, err := set.Expand(max, 1000)
		if set.Saved {
			if err == nil {
				t.Fatal("$ expanded")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		in := map[uint32]bool{}
		for i, n := range nums {
			if n < 1 || n > max || (i > 0 && nums[i-1] >= n) {
				t.Fatalf("%q: bad expansion %v", s, nums)
			}
			in[n] = true
		}
		for n := uint32(1); n <= max; n++ {
			if set.Contains(n, max) != in[n] {
				t.Fatalf("%q max %d: Contains(%d) = %v, Expand says %v", s, max, n, !in[n], in[n])
			}
		}
		if got := SeqSetFromNums(nums); len(nums) > 0 {
			back, _ := got.Expand(max, 1000)
			if !reflect.DeepEqual(back, nums) {
				t.Fatalf("SeqSetFromNums(%v) = %s", nums, got)
			}
		}
	})
}
