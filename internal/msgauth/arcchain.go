package msgauth

import (
	"bytes"
	"context"
	"errors"
	"io"

	"postel/internal/message"
	"postel/internal/msgauth/arc"
)

// arcRun is an ARC validation running beside DKIM's read of the body.
type arcRun struct {
	pw   *io.PipeWriter
	done chan struct{}
	res  arc.Result
	err  error
}

// startARC starts validating the ARC chain (RFC 8617 §5.2) of a message
// that has ARC fields, and makes *body feed it as DKIM reads the body: the
// message is read once. It returns nil when there is no ARC field.
func (c *Checker) startARC(ctx context.Context, hdr []byte, fields []message.Field, body *io.Reader) *arcRun {
	has := false
	for _, f := range fields {
		if f.Is("ARC-Seal") || f.Is("ARC-Message-Signature") || f.Is("ARC-Authentication-Results") {
			has = true
			break
		}
	}
	if !has {
		return nil
	}
	pr, pw := io.Pipe()
	run := &arcRun{pw: pw, done: make(chan struct{})}
	opts := arc.Options{LookupTXT: c.res.LookupTXT, Now: c.now}
	go func() {
		defer close(run.done)
		run.res, run.err = arc.Verify(ctx, io.MultiReader(bytes.NewReader(hdr), pr), opts)
		// Whatever Verify left unread must not block the reader feeding
		// the pipe.
		io.Copy(io.Discard, pr)
	}()
	*body = io.TeeReader(*body, pw)
	return run
}

// wait feeds the validation the rest of the body (DKIM may stop early)
// and returns its outcome.
func (a *arcRun) wait(body io.Reader, readErr error) (arc.Result, error) {
	if readErr == nil {
		_, readErr = io.Copy(io.Discard, body)
	}
	a.pw.CloseWithError(readErr) // nil closes normally
	<-a.done
	return a.res, a.err
}

// setChain records the validated chain and decides again. A key lookup
// that failed for now leaves the chain open: when the DMARC policy would
// apply, the verdict becomes TempFail (a passing chain could change it).
func (r *Result) setChain(res arc.Result, err error) {
	r.Chain = res
	a := ARCResult{Result: res.Status, Sealers: res.Sealers, OldestAuthResults: res.OldestAuthResults, Reason: res.Reason}
	switch {
	case errors.Is(err, arc.ErrTemporary):
		r.st.arcTemp = true
		a.Result, a.Reason = "fail", "temporary failure looking up a key"
	case err != nil:
		a.Result, a.Reason = "fail", err.Error()
	}
	if a.Result == "" {
		a.Result = "none"
	}
	r.SetARC(a)
}
