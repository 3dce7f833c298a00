package server

import (
	"context"

	"github.com/valyala/fasthttp"

	"github.com/chatnode/chatnode/actors"
)

// webimHistoryRevision is the history revision the visitor history answers
// in Webim's since form; see visitorHistory.
const webimHistoryRevision = "1"

// visitorInit serves /l/v/m/init, and /l/v/m/delta?event=init as Webim's
// Android SDK sends it.
func (s *Server) visitorInit(ctx *fasthttp.RequestCtx, get params) {
	if !s.allow(ctx, s.clientIP(make([]byte, 0, 32), ctx)) {
		return
	}
	req, err := decodeInit(get)
	if err != nil {
		s.writePollError(ctx, err)
		return
	}
	c := s.callContext(ctx)
	u, err := s.backend.VisitorInit(c, req)
	if err != nil {
		s.writePollError(ctx, err)
		return
	}
	writeUpdate(ctx, u)
}

// visitorDelta serves the visitor's long poll /l/v/m/delta.
func (s *Server) visitorDelta(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	if ev, _ := get("event"); string(ev) == "init" {
		s.visitorInit(ctx, get)
		return
	}
	auth, ok := s.visitorAuth(ctx, get, s.writePollError)
	if !ok {
		return
	}
	since, err := decodeSince(get)
	if err != nil {
		s.writePollError(ctx, err)
		return
	}
	s.longPolls.Add(1)
	defer s.longPolls.Add(-1)
	c := s.callContext(ctx)
	u, err := s.backend.VisitorDelta(c, auth, since, s.opts.LongPollTimeout)
	if err != nil {
		if s.ctx.Err() != nil {
			writeUpdate(ctx, nil) // stopping: the client polls again elsewhere
			return
		}
		s.writePollError(ctx, err)
		return
	}
	writeUpdate(ctx, u)
}

// visitorAction serves /l/v/m/action.
func (s *Server) visitorAction(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	auth, ok := s.visitorAuth(ctx, get, s.writeError)
	if !ok {
		return
	}
	req, err := decodeVisitorActionOf(auth, get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.respondOK(ctx, func(c context.Context) error { return s.backend.VisitorAction(c, req) })
}

// visitorHistory serves /l/v/m/history in Webim's shape. The before-ts form
// pages back through older messages. Of the since form, which Webim's SDK
// polls to keep its message store current, the first request (no since)
// gets the newest page and later ones an empty page with the same
// revision: new messages reach the SDK's store through the delta stream.
func (s *Server) visitorHistory(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	auth, ok := s.visitorAuth(ctx, get, s.writeError)
	if !ok {
		return
	}
	_, q, err := decodeVisitorHistory(get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	revision := ""
	if q.Since {
		revision = webimHistoryRevision
		if rev, ok := get("since"); ok && len(rev) > 0 {
			buf := getBuf()
			*buf = appendWebimHistory(*buf, &actors.HistoryPage{}, string(rev))
			writeJSON(ctx, fasthttp.StatusOK, *buf)
			putBuf(buf)
			return
		}
	}
	c := s.callContext(ctx)
	page, err := s.backend.VisitorHistory(c, auth, q.Before, q.Limit)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	buf := getBuf()
	*buf = appendWebimHistory(*buf, page, revision)
	writeJSON(ctx, fasthttp.StatusOK, *buf)
	putBuf(buf)
}

// visitorSocket serves /ws/v/delta: the visitor's updates pushed over a
// WebSocket, each frame shaped like a delta answer.
func (s *Server) visitorSocket(ctx *fasthttp.RequestCtx) {
	get := formParams(ctx)
	auth, ok := s.visitorAuth(ctx, get, s.writeError)
	if !ok {
		return
	}
	since, err := decodeSince(get)
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	s.serveSocket(ctx, sideVisitor, func(c *wsConn) (func(), error) {
		call := s.callContext(ctx)
		return s.backend.VisitorSubscribe(call, auth, since, c)
	})
}

// visitorAuth reads the visitor's page-id and auth-token and applies their
// rate limit; on false the answer is written (a bad credential with
// writeErr).
func (s *Server) visitorAuth(ctx *fasthttp.RequestCtx, get params, writeErr func(*fasthttp.RequestCtx, error)) (actors.VisitorAuth, bool) {
	auth, err := decodeVisitorAuth(get)
	if err != nil {
		writeErr(ctx, err)
		return auth, false
	}
	return auth, s.allow(ctx, visitorKey(make([]byte, 0, 128), auth))
}
