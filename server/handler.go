package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/actors"
)

// Methods an endpoint takes.
type methods uint8

const (
	mGet methods = 1 << iota
	mPost
)

// serveHTTP routes a request by its path.
func (s *Server) serveHTTP(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/l/v/m/init":
		if s.method(ctx, mGet|mPost) {
			s.visitorInit(ctx, formParams(ctx))
		}
	case "/l/v/m/delta":
		if s.method(ctx, mGet) {
			s.visitorDelta(ctx)
		}
	case "/l/v/m/action":
		if s.method(ctx, mGet|mPost) {
			s.visitorAction(ctx)
		}
	case "/l/v/m/history":
		if s.method(ctx, mGet) {
			s.visitorHistory(ctx)
		}
	case "/ws/v/delta":
		if s.method(ctx, mGet) {
			s.visitorSocket(ctx)
		}
	case "/l/o/login":
		if s.method(ctx, mPost) {
			s.operatorLogin(ctx)
		}
	case "/l/o/set-status":
		if s.method(ctx, mPost) {
			s.operatorSetStatus(ctx)
		}
	case "/l/o/action":
		if s.method(ctx, mPost) {
			s.operatorAction(ctx)
		}
	case "/l/o/delta":
		if s.method(ctx, mGet) {
			s.operatorDelta(ctx)
		}
	case "/l/o/history":
		if s.method(ctx, mGet) {
			s.operatorHistory(ctx)
		}
	case "/ws/o/delta":
		if s.method(ctx, mGet) {
			s.operatorSocket(ctx)
		}
	case "/health":
		if s.method(ctx, mGet) {
			s.health(ctx)
		}
	case "/metrics":
		if s.method(ctx, mGet) {
			s.metrics(ctx)
		}
	default:
		s.writeError(ctx, errNotFound)
	}
}

// method answers 405 unless the request's method is one of m.
func (s *Server) method(ctx *fasthttp.RequestCtx, m methods) bool {
	if m&mGet != 0 && ctx.IsGet() || m&mPost != 0 && ctx.IsPost() {
		return true
	}
	allow := "GET"
	switch m {
	case mPost:
		allow = "POST"
	case mGet | mPost:
		allow = "GET, POST"
	}
	ctx.Response.Header.Set("Allow", allow)
	s.writeError(ctx, errMethod)
	return false
}

// formParams reads parameters from a form-encoded POST body, then from the
// query string.
func formParams(ctx *fasthttp.RequestCtx) params {
	post := ctx.IsPost()
	return func(key string) ([]byte, bool) {
		if post {
			if a := ctx.PostArgs(); a.Has(key) {
				return a.Peek(key), true
			}
		}
		if a := ctx.QueryArgs(); a.Has(key) {
			return a.Peek(key), true
		}
		return nil, false
	}
}

// bodyParams reads parameters from a form-encoded POST body only: for
// secrets, which must not travel in URLs that proxies log.
func bodyParams(ctx *fasthttp.RequestCtx) params {
	return func(key string) ([]byte, bool) {
		if a := ctx.PostArgs(); a.Has(key) {
			return a.Peek(key), true
		}
		return nil, false
	}
}

// Rate-limit keys.
func visitorKey(buf []byte, a actors.VisitorAuth) []byte {
	return append(append(append(append(buf, 'v', 0), a.PageID...), 0), a.AuthToken...)
}

func operatorKey(buf []byte, token string) []byte { return append(append(buf, 'o', 0), token...) }

const contentTypeJSON = "application/json; charset=utf-8"

// writeJSON answers with status and a JSON body.
func writeJSON(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(body)
}

// respondOK makes a Backend call that changes something and answers
// {"result":"ok"} or its error.
func (s *Server) respondOK(ctx *fasthttp.RequestCtx, call func(context.Context) error) {
	c := s.callContext(ctx)
	if err := call(c); err != nil {
		s.writeError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, resultOK)
}

// writeUpdate answers a delta or init request with u.
func writeUpdate(ctx *fasthttp.RequestCtx, u *actors.Update) {
	buf := getBuf()
	*buf = appendUpdate(*buf, u)
	writeJSON(ctx, fasthttp.StatusOK, *buf)
	putBuf(buf)
}

// writeError answers with err at the status the error table gives.
func (s *Server) writeError(ctx *fasthttp.RequestCtx, err error) {
	s.writeErrorStatus(ctx, 0, err)
}

// writePollError answers an init or delta request with err. Webim's SDK ends
// the session on any error it reads there but reinit-required, so a passing
// server condition is answered 503, a status whose body it does not read
// and on which it retries.
func (s *Server) writePollError(ctx *fasthttp.RequestCtx, err error) {
	err = s.classify(ctx, err)
	if spec, _ := specOf(chatnode.ErrorCode(err)); spec.Transient && spec.Status != fasthttp.StatusTooManyRequests {
		s.writeErrorStatus(ctx, fasthttp.StatusServiceUnavailable, err)
		return
	}
	s.writeErrorStatus(ctx, 0, err)
}

// writeErrorStatus answers with err at status, or at the table's status
// when status is 0. An internal error is logged here, once, and answered
// without its details.
func (s *Server) writeErrorStatus(ctx *fasthttp.RequestCtx, status int, err error) {
	err = s.classify(ctx, err)
	code, message, argument := errorParts(err)
	spec, known := specOf(code)
	if !known {
		s.log.Warn("error code missing from the error table", "code", code, "path", string(ctx.Path()))
	}
	if status == 0 {
		status = spec.Status
	}
	buf := getBuf()
	*buf = appendError(*buf, code, message, argument)
	writeJSON(ctx, status, *buf)
	putBuf(buf)
}

// classify turns context errors into what they mean here and logs internal
// errors.
func (s *Server) classify(ctx *fasthttp.RequestCtx, err error) error {
	var e *chatnode.Error
	if errors.As(err, &e) {
		return err
	}
	switch {
	case s.ctx.Err() != nil && errors.Is(err, context.Canceled):
		return errStopping
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Warn("backend call timed out", "path", string(ctx.Path()))
		return &chatnode.Error{Code: chatnode.EUnavailable, Message: "timed out"}
	}
	s.log.Error("request failed", "path", string(ctx.Path()), "err", err)
	return &chatnode.Error{Code: chatnode.EInternal}
}

// health answers GET /health.
func (s *Server) health(ctx *fasthttp.RequestCtx) {
	if s.opts.Health == nil {
		writeJSON(ctx, fasthttp.StatusOK, []byte(`{"status":"ok"}`))
		return
	}
	status, body := s.opts.Health()
	writeJSON(ctx, status, body)
}

// metrics answers GET /metrics in the Prometheus text format.
func (s *Server) metrics(ctx *fasthttp.RequestCtx) {
	if s.opts.Metrics == nil {
		s.writeError(ctx, errNotFound)
		return
	}
	var b bytes.Buffer
	if err := s.opts.Metrics(&b); err != nil {
		s.writeError(ctx, fmt.Errorf("write metrics: %w", err))
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
	ctx.SetBody(b.Bytes())
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
