package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestInflateRoundTrip decompresses what compress/flate makes, at every
// level, with flushes between chunks.
func TestInflateRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rng.IntN(256))
	}
	inputs := map[string][]byte{
		"empty":  nil,
		"short":  []byte("a NOOP\r\n"),
		"text":   []byte(strings.Repeat("1 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject)])\r\n", 500)),
		"random": random,
		"mixed":  append(append([]byte(nil), random[:5000]...), bytes.Repeat([]byte("abc"), 40000)...),
	}
	for name, in := range inputs {
		for _, level := range []int{flate.HuffmanOnly, flate.NoCompression, flate.BestSpeed, flate.DefaultCompression, flate.BestCompression} {
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			for rest := in; len(rest) > 0; {
				k := min(len(rest), 1+rng.IntN(20000))
				w.Write(rest[:k])
				w.Flush()
				rest = rest[k:]
			}
			w.Close()
			got, err := io.ReadAll(newInflater(bufio.NewReader(&buf)))
			if err != nil || !bytes.Equal(got, in) {
				t.Errorf("%s at level %d: %d octets, %v; want %d octets", name, level, len(got), err, len(in))
			}
		}
	}
}

// TestInflatePartialFlush: commands a zlib client flushed with
// Z_PARTIAL_FLUSH (as isync does) come out before any more input arrives.
// The chunks are zlib 1.2's output for four commands, the third a dynamic
// block, the fourth a back-reference into the third.
func TestInflatePartialFlush(t *testing.T) {
	chunks := []string{
		"325470760c7074f2f4f10c89e4e50208",
		"20238560571f57e710054f3f27ff085e2e8000",
		"3c8dcb0ac2301444f782ff70975648c1ba1177b5b9d5627d9044f0810b0dd752d1a42411e9df5b17ba1be63067c6b02b38e4a8b2058ca64318e4653a971d5528d669c9538520f26c9224b12c8e08b30d3fc45bc4e56981294711e705965c763b679fa02c641a665a837c5defa403f04b205891f7978a58f7b475b575756861cffe51d08d1c194d1ed6f4f695b3afc6436198a0e6d1b2afd49a402630d53604bf363a47fdde47",
		"00990c71f70304",
	}
	fetch := "UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n"
	want := []string{"1 CAPABILITY\r\n", "2 SELECT INBOX\r\n", "3 " + fetch, "4 " + fetch}
	pr, pw := io.Pipe()
	lines := bufio.NewReader(newInflater(bufio.NewReader(pr)))
	for i, c := range chunks {
		b, _ := hex.DecodeString(c)
		go pw.Write(b) // the client then waits for the response
		got := make(chan string, 1)
		go func() {
			l, _ := lines.ReadString('\n')
			got <- l
		}()
		select {
		case l := <-got:
			if l != want[i] {
				t.Fatalf("command %d: %q, want %q", i+1, l, want[i])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("command %d stuck in the decompressor", i+1)
		}
	}
	pw.Close()
}

// bitWriter writes values of n bits, least significant bit first, as
// DEFLATE packs them.
type bitWriter struct {
	out   []byte
	nbits uint
}

func (w *bitWriter) bits(v uint, n uint) *bitWriter {
	for i := uint(0); i < n; i++ {
		if w.nbits%8 == 0 {
			w.out = append(w.out, 0)
		}
		w.out[len(w.out)-1] |= byte(v>>i&1) << (w.nbits % 8)
		w.nbits++
	}
	return w
}

// code writes a Huffman code of n bits, which DEFLATE packs most
// significant bit first.
func (w *bitWriter) code(c uint, n uint) *bitWriter {
	for i := n; i > 0; i-- {
		w.bits(c>>(i-1)&1, 1)
	}
	return w
}

// TestInflateErrors: malformed streams fail with errInflate, truncated
// ones with io.ErrUnexpectedEOF.
func TestInflateErrors(t *testing.T) {
	fixedFinal := func() *bitWriter { return new(bitWriter).bits(1, 1).bits(1, 2) }
	oversubscribed := new(bitWriter).bits(1, 1).bits(2, 2).bits(0, 5).bits(0, 5).bits(15, 4)
	for range 19 {
		oversubscribed.bits(1, 3) // 19 codes of length 1
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"reserved block type", new(bitWriter).bits(1, 1).bits(3, 2).out, errInflate},
		{"stored length mismatch", []byte{0x01, 0x05, 0x00, 0x00, 0x00}, errInflate},
		// Length 3 (code 257), distance 1 (code 0), with nothing written.
		{"distance before the start", fixedFinal().code(1, 7).code(0, 5).out, errInflate},
		// Literal/length code 286 is not valid (11000110 in 8 bits).
		{"invalid length code", fixedFinal().code(0xc6, 8).out, errInflate},
		// Distance code 30 is not valid (once enough bits show it is no
		// code; before, it may be a code cut short).
		{"invalid distance code", fixedFinal().code('a'+0x30, 8).code(1, 7).code(30, 5).bits(0, 48).out, errInflate},
		{"over-subscribed code", oversubscribed.out, errInflate},
		{"truncated stored block", []byte{0x01, 0x05, 0x00, 0xfa, 0xff, 'a'}, io.ErrUnexpectedEOF},
		{"no final block", new(bitWriter).bits(0, 1).bits(1, 2).code(0, 7).out, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		_, err := io.ReadAll(io.LimitReader(newInflater(bufio.NewReader(bytes.NewReader(tc.in))), 1<<20))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s (% x): %v, want %v", tc.name, tc.in, err, tc.want)
		}
	}
	// A valid stream written with the same helpers: "a", then a match of
	// length 3 at distance 1, then the end of block.
	ok := fixedFinal().code('a'+0x30, 8).code(1, 7).code(0, 5).code(0, 7).out
	if got, err := io.ReadAll(newInflater(bufio.NewReader(bytes.NewReader(ok)))); err != nil || string(got) != "aaaa" {
		t.Errorf("valid stream: %q, %v", got, err)
	}
}

// FuzzInflate checks that any input decompresses or fails without panic,
// and that what compress/flate makes of the input comes back unchanged.
func FuzzInflate(f *testing.F) {
	f.Add([]byte("a NOOP\r\n"), []byte{0x03, 0x00}, uint8(6), uint16(3))
	f.Add([]byte(strings.Repeat("abcabc", 100)), []byte{0x05, 0xe0, 0xff}, uint8(9), uint16(100))
	f.Add([]byte{}, []byte{0x01, 0x00, 0x00, 0xff, 0xff}, uint8(0), uint16(1))
	f.Fuzz(func(t *testing.T, data, raw []byte, level uint8, chunk uint16) {
		// Arbitrary input: bounded output, no panic.
		io.Copy(io.Discard, io.LimitReader(newInflater(bufio.NewReader(bytes.NewReader(raw))), 1<<20))

		var buf bytes.Buffer
		w, err := flate.NewWriter(&buf, int(level%12)-2)
		if err != nil {
			t.Fatal(err)
		}
		step := int(chunk%4096) + 1
		for rest := data; len(rest) > 0; {
			k := min(len(rest), step)
			w.Write(rest[:k])
			w.Flush()
			rest = rest[k:]
		}
		w.Close()
		got, err := io.ReadAll(newInflater(bufio.NewReader(&buf)))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("round trip: %v, %d of %d octets", err, len(got), len(data))
		}
	})
}
