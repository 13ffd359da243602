package imapserver

import (
	"bufio"
	"errors"
	"io"
)

// inflater decompresses the raw DEFLATE stream (RFC 1951) a client sends
// after COMPRESS=DEFLATE (RFC 4978). compress/flate's reader cannot serve
// here: it hands out the data of a block only once a later block or a
// stored block has arrived, so a client that flushes with Z_PARTIAL_FLUSH
// (isync does) and waits for the response would wait forever (Go issue
// 31514). The inflater returns what it has decoded as soon as its input
// runs dry, whatever the flush mode, and only blocks for input when it has
// nothing to return.
//
// Invariants: the bit buffer holds the input not consumed yet, least
// significant bit first; a decoding step consumes its bits only once it
// has all of them, so a step cut short by missing input is redone whole;
// memory is the 32 KiB window and the code tables.
type inflater struct {
	src   *bufio.Reader
	bits  uint64
	nbits uint
	err   error

	state  int // one of the in* states
	final  bool
	stored int // octets left in a stored block
	lit    huffman
	dist   huffman

	window  [1 << 15]byte
	written int64 // octets ever written to the window
	copyLen int   // octets of a match still to copy
	copyDst int   // its distance
}

const (
	inHeader = iota
	inStored
	inCodes
	inDone
)

// errInflate reports a malformed compressed stream.
var errInflate = errors.New("COMPRESS: malformed DEFLATE stream")

func newInflater(src *bufio.Reader) *inflater { return &inflater{src: src} }

// more adds one input octet to the bit buffer. It blocks only when
// produced is zero: with output in hand and no input buffered, it reports
// false so that Read returns that output first.
func (z *inflater) more(produced int) (bool, error) {
	if produced > 0 && z.src.Buffered() == 0 {
		return false, nil
	}
	b, err := z.src.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return false, err
	}
	z.bits |= uint64(b) << z.nbits
	z.nbits += 8
	return true, nil
}

// need makes n bits available; false when Read should return first.
func (z *inflater) need(n uint, produced int) (bool, error) {
	for z.nbits < n {
		if ok, err := z.more(produced); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// take consumes n bits, which must be available.
func (z *inflater) take(n uint) uint64 {
	v := z.bits & (1<<n - 1)
	z.bits >>= n
	z.nbits -= n
	return v
}

func (z *inflater) put(b byte) {
	z.window[z.written&(1<<15-1)] = b
	z.written++
}

func (z *inflater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && z.err == nil {
		if z.copyLen > 0 {
			for z.copyLen > 0 && n < len(p) {
				b := z.window[(z.written-int64(z.copyDst))&(1<<15-1)]
				z.put(b)
				p[n] = b
				n++
				z.copyLen--
			}
			continue
		}
		var ok bool
		switch z.state {
		case inHeader:
			ok, z.err = z.header(n)
		case inStored:
			var k int
			k, ok, z.err = z.storedData(p[n:], n)
			n += k
		case inCodes:
			var k int
			k, ok, z.err = z.codes(p[n:], n)
			n += k
		case inDone:
			z.err = io.EOF
		}
		if !ok && z.err == nil {
			break // output in hand, no input buffered
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, z.err
}

// header reads a block header (RFC 1951 §3.2.3) and its code tables. It
// starts only with nothing produced, so that it may block for input.
func (z *inflater) header(produced int) (bool, error) {
	if z.final {
		z.state = inDone
		return true, nil
	}
	if produced > 0 {
		return false, nil
	}
	if _, err := z.need(3, 0); err != nil {
		return false, err
	}
	z.final = z.take(1) == 1
	switch z.take(2) {
	case 0:
		z.take(z.nbits % 8) // stored blocks start on an octet boundary
		if _, err := z.need(32, 0); err != nil {
			return false, err
		}
		size, nsize := z.take(16), z.take(16)
		if size != ^nsize&0xffff {
			return false, errInflate
		}
		z.stored, z.state = int(size), inStored
	case 1:
		z.lit, z.dist = fixedLit, fixedDist
		z.state = inCodes
	case 2:
		if err := z.dynamic(); err != nil {
			return false, err
		}
		z.state = inCodes
	default:
		return false, errInflate
	}
	return true, nil
}

// storedData copies the octets of a stored block, from the bit buffer
// first (whole octets), then from the input.
func (z *inflater) storedData(p []byte, produced int) (int, bool, error) {
	n := 0
	for n < len(p) && z.stored > 0 {
		if z.nbits < 8 {
			if ok, err := z.more(produced + n); !ok || err != nil {
				return n, false, err
			}
		}
		b := byte(z.take(8))
		z.put(b)
		p[n] = b
		n++
		z.stored--
	}
	if z.stored == 0 {
		z.state = inHeader
	}
	return n, true, nil
}

// Length and distance bases and extra bits (RFC 1951 §3.2.5).
var (
	lenBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	dstBase  = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	dstExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// codes decodes literals and matches of a Huffman block until p is full,
// the block ends, or the input runs dry with output in hand. Each symbol
// with its extra bits and distance is one step: decoded on a copy of the
// bit buffer, committed whole.
func (z *inflater) codes(p []byte, produced int) (int, bool, error) {
	n := 0
	for n < len(p) {
		if z.copyLen > 0 {
			return n, true, nil // Read copies the match
		}
		bits, nbits := z.bits, z.nbits
		sym, used, ok := z.lit.decode(bits, nbits)
		var length, dist int
		if ok && sym > 256 {
			bits, nbits = bits>>used, nbits-used
			i := sym - 257
			if i >= len(lenBase) {
				return n, false, errInflate
			}
			e := uint(lenExtra[i])
			ok = nbits >= e
			if ok {
				length = int(lenBase[i]) + int(bits&(1<<e-1))
				bits, nbits = bits>>e, nbits-e
				var d int
				d, used, ok = z.dist.decode(bits, nbits)
				if ok {
					if d >= len(dstBase) {
						return n, false, errInflate
					}
					bits, nbits = bits>>used, nbits-used
					e = uint(dstExtra[d])
					ok = nbits >= e
					dist = int(dstBase[d]) + int(bits&(1<<e-1))
					bits, nbits = bits>>e, nbits-e
				}
			}
		} else if ok {
			bits, nbits = bits>>used, nbits-used
		}
		if !ok {
			if z.nbits >= 48 {
				return n, false, errInflate // a whole step is at most 48 bits: an invalid code
			}
			if more, err := z.more(produced + n); !more || err != nil {
				return n, false, err
			}
			continue
		}
		z.bits, z.nbits = bits, nbits
		switch {
		case sym < 256:
			z.put(byte(sym))
			p[n] = byte(sym)
			n++
		case sym == 256:
			z.state = inHeader
			return n, true, nil
		default:
			if int64(dist) > z.written || dist > len(z.window) {
				return n, false, errInflate
			}
			z.copyLen, z.copyDst = length, dist
		}
	}
	return n, true, nil
}

// clenOrder is the order of the code length code lengths (RFC 1951
// §3.2.7).
var clenOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the code tables of a dynamic Huffman block (RFC 1951
// §3.2.7); it may block for input.
func (z *inflater) dynamic() error {
	if _, err := z.need(14, 0); err != nil {
		return err
	}
	nlit, ndist, nclen := int(z.take(5))+257, int(z.take(5))+1, int(z.take(4))+4
	if nlit > 286 || ndist > 30 {
		return errInflate
	}
	var clen [19]uint8
	for _, i := range clenOrder[:nclen] {
		if _, err := z.need(3, 0); err != nil {
			return err
		}
		clen[i] = uint8(z.take(3))
	}
	var ch huffman
	if !ch.build(clen[:]) {
		return errInflate
	}
	var lens [286 + 30]uint8
	for i := 0; i < nlit+ndist; {
		sym, used, ok := ch.decode(z.bits, z.nbits)
		for !ok {
			if z.nbits >= 15 {
				return errInflate // an invalid code
			}
			if _, err := z.more(0); err != nil {
				return err
			}
			sym, used, ok = ch.decode(z.bits, z.nbits)
		}
		z.take(used)
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return errInflate
			}
			val = lens[i-1]
			if _, err := z.need(2, 0); err != nil {
				return err
			}
			rep = 3 + int(z.take(2))
		case 17:
			if _, err := z.need(3, 0); err != nil {
				return err
			}
			rep = 3 + int(z.take(3))
		default:
			if _, err := z.need(7, 0); err != nil {
				return err
			}
			rep = 11 + int(z.take(7))
		}
		if i+rep > nlit+ndist {
			return errInflate
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if lens[256] == 0 || !z.lit.build(lens[:nlit]) || !z.dist.build(lens[nlit:nlit+ndist]) {
		return errInflate
	}
	return nil
}

// huffman is a canonical Huffman code, decoded a bit at a time as in
// zlib's puff.c: counts of codes per length, symbols in code order.
type huffman struct {
	count  [16]uint16
	symbol [288]uint16
}

// build makes the code of the code lengths (0: unused); false when the
// lengths over-subscribe the code space. Incomplete codes are accepted;
// their missing codes fail when met.
func (h *huffman) build(lengths []uint8) bool {
	*h = huffman{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.count[0] = 0
	left := 1
	for l := 1; l < 16; l++ {
		left = left<<1 - int(h.count[l])
		if left < 0 {
			return false
		}
	}
	var offs [16]uint16
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	return true
}

// decode decodes one symbol from the bits available; ok is false when
// they are too few (or no code matches within 15 bits).
func (h *huffman) decode(bits uint64, nbits uint) (sym int, used uint, ok bool) {
	code, first, index := 0, 0, 0
	for l := uint(1); l < 16; l++ {
		if l > nbits {
			return 0, 0, false
		}
		code |= int(bits>>(l-1)) & 1
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+code-first]), l, true
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, 0, false
}

// The fixed codes of RFC 1951 §3.2.6.
var fixedLit, fixedDist = func() (lit, dist huffman) {
	var l [288]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	lit.build(l[:])
	var d [30]uint8
	for i := range d {
		d[i] = 5
	}
	dist.build(d[:])
	return lit, dist
}()
