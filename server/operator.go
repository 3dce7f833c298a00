package server

import (
	"context"

	"github.com/valyala/fasthttp"
)

// operatorLogin serves /l/o/login. The password is read from the body only.
func (s *Server) operatorLogin(ctx *fasthttp.RequestCtx) {
	if !s.allow(ctx, s.clientIP(make([]byte, 0, 32), ctx)) {
		return
	}
	login, password, err := decodeLogin(bodyParams(ctx))
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c := s.callContext(ctx)
	r, err := s.backend.OperatorLogin(c, login, password)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	buf := getBuf()
	*buf = appendLogin(*buf, r)
	writeJSON(ctx, fasthttp.StatusOK, *buf)
	putBuf(buf)
}

// operatorSetStatus serves /l/o/set-status.
func (s *Server) operatorSetStatus(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	tok, ok := s.operatorToken(ctx, get)
	if !ok {
		return
	}
	tok, status, err := decodeSetStatus(get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.respondOK(ctx, func(c context.Context) error { return s.backend.OperatorSetStatus(c, tok, status) })
}

// operatorAction serves /l/o/action.
func (s *Server) operatorAction(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	_, ok := s.operatorToken(ctx, get)
	if !ok {
		return
	}
	req, err := decodeOperatorAction(get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.respondOK(ctx, func(c context.Context) error { return s.backend.OperatorAction(c, req) })
}

// operatorDelta serves the operator's long poll /l/o/delta.
func (s *Server) operatorDelta(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	tok, ok := s.operatorToken(ctx, get)
	if !ok {
		return
	}
	since, err := decodeSince(get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.longPolls.Add(1)
	defer s.longPolls.Add(-1)
	c := s.callContext(ctx)
	u, err := s.backend.OperatorDelta(c, tok, since, s.opts.LongPollTimeout)
	if err != nil {
		if s.ctx.Err() != nil {
			writeUpdate(ctx, nil)
			return
		}
		s.writeError(ctx, err)
		return
	}
	writeUpdate(ctx, u)
}

// operatorHistory serves /l/o/history.
func (s *Server) operatorHistory(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	if _, ok := s.operatorToken(ctx, get); !ok {
		return
	}
	tok, chatID, q, err := decodeOperatorHistory(get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	c := s.callContext(ctx)
	page, err := s.backend.OperatorHistory(c, tok, chatID, q.Before, q.Limit)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	buf := getBuf()
	*buf = appendHistory(*buf, page)
	writeJSON(ctx, fasthttp.StatusOK, *buf)
	putBuf(buf)
}

// operatorSocket serves /ws/o/delta: the operator's updates pushed over a
// WebSocket, each frame shaped like a delta answer.
func (s *Server) operatorSocket(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	tok, ok := s.operatorToken(ctx, get)
	if !ok {
		return
	}
	since, err := decodeSince(get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.serveSocket(ctx, sideOperator, func(c *wsConn) (func(), error) {
		call := s.callContext(ctx)
		return s.backend.OperatorSubscribe(call, tok, since, c)
	})
}

// operatorToken reads the operator's auth-token and applies its rate limit;
// on false the answer is written.
func (s *Server) operatorToken(ctx *fasthttp.RequestCtx, get params) (string, bool) {
	tok, err := token(get, "auth-token")
	if err != nil {
		s.writeError(ctx, err)
		return "", false
	}
	return tok, s.allow(ctx, operatorKey(make([]byte, 0, 128), tok))
}
