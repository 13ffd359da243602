package imapserver

import (
	"bufio"
	"compress/flate"

	"postel/internal/imap"
)

// compressor is the DEFLATE layer of COMPRESS=DEFLATE (RFC 4978) on the
// response side: responses are compressed into zw, which writes into bw on
// the connection. (Commands are decompressed by an inflater.)
type compressor struct {
	zw *flate.Writer
	bw *bufio.Writer
}

// flush ends what was compressed so far with a sync flush (Z_SYNC_FLUSH,
// RFC 4978 §4), so the client can decompress every response it waits for,
// and sends it.
func (c *compressor) flush() error {
	if err := c.zw.Flush(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// COMPRESS (RFC 4978 §3). Both sides compress from the octet after the
// tagged OK: raw DEFLATE (RFC 1951), no zlib header.
func (s *session) cmdCompress(cmd *imap.Command) error {
	a := cmd.Args.(*imap.CompressArgs)
	switch {
	case s.z != nil:
		return no(codeCompressActive, "DEFLATE is already active")
	case a.Mechanism != "DEFLATE":
		return no(codeCannot, "Unsupported compression mechanism")
	}
	s.w.StatusResponse(cmd.Tag, "OK", "", "DEFLATE active")
	if err := s.flush(); err != nil {
		return abort(err)
	}
	// The client sends nothing after COMPRESS before the tagged response
	// (RFC 4978 §3), so s.br holds no plain input; reading through it
	// anyway loses nothing. The inflater returns each command as soon as
	// it arrives, whatever the client's flush mode. BestSpeed keeps the
	// compressor's memory small (about 200 KiB instead of 800 KiB).
	zr := newInflater(s.br)
	bw := bufio.NewWriterSize(s.nc, 4096)
	zw, err := flate.NewWriter(bw, flate.BestSpeed)
	if err != nil {
		return abort(err)
	}
	s.z = &compressor{zw: zw, bw: bw}
	s.setupIO(zr, zw)
	return errResponded
}
