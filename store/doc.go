// Package store is the durable memory of a chatnode: visitors, chats,
// messages, operator states and read markers.
//
// The Store interface has two implementations: SQLite (an embedded database
// file under the data directory, used by a standalone node) and Postgres (a
// shared PostgreSQL database, used by a cluster). Both apply the schema
// migrations embedded under migrations/ when they are opened, and both pass
// the conformance suite in store/storetest.
//
// Writes go through Apply, which commits a batch of changes in one
// transaction and returns only once they are durable. Actors do not call
// Apply directly: they submit their changes to a Writer, which gathers the
// submissions of many actors into few transactions (group commit) and calls
// each submitter back when its changes are durable.
//
// # Concurrency
//
// Every Store method and the Writer's methods are safe for concurrent use.
// Apply calls are serialised inside SQLite (one writer connection) and run
// in parallel on PostgreSQL. Writer callbacks run on the Writer's goroutine,
// one at a time and in submission order: they must not block, and must not
// call the Writer's Submit or Close (hand the result to an actor's mailbox
// instead).
//
// # Durability
//
// SQLite runs in WAL mode with synchronous=FULL: a commit is fsynced to the
// write-ahead log before Apply returns, so it survives both a process crash
// (kill -9) and a power loss. Open puts a Journaled in front of it: Apply
// returns once its record is appended to the journal and fdatasynced, and
// the journal's applier moves records into SQLite in large transactions,
// deleting journal files only once SQLite's commits hold them. PostgreSQL
// relies on the server's synchronous_commit (on by default).
package store
