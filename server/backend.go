package server

import (
	"context"
	"time"

	"github.com/chatnode/chatnode/actors"
)

// Backend is the chat domain as the server sees it; *actors.Hub implements it.
//
// Every method may be called from many goroutines at once. Errors meant for
// the client are *chatnode.Error values; any other error is logged by the
// server and answered as "internal". A ctx carries the request's trace; the
// call itself is bounded by the backend's own request timeout (a long poll
// by its wait plus that timeout), and a backend that is stopping answers
// held long polls at once, so Shutdown does not wait them out.
type Backend interface {
	// VisitorInit opens or resumes a visit session and answers its full
	// state (Update.Full with a revision of at least 1).
	VisitorInit(ctx context.Context, req *actors.InitRequest) (*actors.Update, error)
	// VisitorAction applies one visitor action and returns once it is
	// accepted.
	VisitorAction(ctx context.Context, req *actors.VisitorRequest) error
	// VisitorDelta answers at once when there is news after since, else waits up to wait and returns an empty Update. since older than the stream keeps → an Update with Full set. Unknown page/token → *chatnode.Error EReinitRequired.
	VisitorDelta(ctx context.Context, auth actors.VisitorAuth, since int64, wait time.Duration) (*actors.Update, error)
	// VisitorSubscribe pushes to sink, in order: first Full (since==0 or too old) or the deltas after since, then every later update, until cancel is called or sink.Push returns false.
	// ctx bounds the subscribe call, not the subscription. Push may be
	// called before VisitorSubscribe returns. When the stream ends the
	// subscription for a reason the client must learn (the stream's actor
	// restarted after a failure), it calls sink's End(err error) method if
	// the sink has one (the server's sinks do; see Ender).
	VisitorSubscribe(ctx context.Context, auth actors.VisitorAuth, since int64, sink actors.Sink) (cancel func(), err error)
	// VisitorHistory answers the visitor's messages older than before,
	// newest first, at most limit of them. before is "" for the newest
	// page, a HistoryPage.Next from an earlier page, or a message time in
	// microseconds since the Unix epoch (Webim's before-ts) written in
	// decimal; making Next such a timestamp keeps the two the same.
	VisitorHistory(ctx context.Context, auth actors.VisitorAuth, before string, limit int) (*actors.HistoryPage, error)
	// OperatorLogin checks an operator's login and password and issues a
	// token. A wrong pair → *chatnode.Error EWrongCredentials.
	OperatorLogin(ctx context.Context, login, password string) (*actors.LoginResult, error)
	// OperatorSetStatus sets the status (online, invisible or offline) of
	// the operator holding token.
	OperatorSetStatus(ctx context.Context, token, status string) error
	// OperatorAction applies one operator action on a chat.
	OperatorAction(ctx context.Context, req *actors.OperatorRequest) error
	// OperatorDelta is VisitorDelta for the operator holding token; an
	// unknown token → *chatnode.Error EUnauthorized.
	OperatorDelta(ctx context.Context, token string, since int64, wait time.Duration) (*actors.Update, error)
	// OperatorSubscribe is VisitorSubscribe for the operator holding token;
	// an unknown token → *chatnode.Error EUnauthorized.
	OperatorSubscribe(ctx context.Context, token string, since int64, sink actors.Sink) (cancel func(), err error)
	// OperatorHistory answers a page of a chat's messages older than
	// before ("" for the newest), newest first, at most limit of them.
	OperatorHistory(ctx context.Context, token, chatID, before string, limit int) (*actors.HistoryPage, error)
}

// Ender is implemented by the sinks the server passes to the Subscribe
// methods. End closes the subscriber's WebSocket with the close code of
// err's error code; it never blocks, and the sink takes no updates after it.
type Ender interface {
	End(err error)
}
