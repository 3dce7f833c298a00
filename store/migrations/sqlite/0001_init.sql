-- Initial schema. Times are INTEGER milliseconds since the Unix epoch, UTC;
-- NULL in queued_at, closed_at and last_assigned_at means "never".

CREATE TABLE visitors (
    id          TEXT PRIMARY KEY,
    page_id     TEXT NOT NULL,
    auth_token  TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    fields      BLOB,
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX visitors_seen_at ON visitors (seen_at);

CREATE TABLE chats (
    id                 TEXT PRIMARY KEY,
    visitor_id         TEXT NOT NULL,
    client_side_id     TEXT NOT NULL,
    department_key     TEXT NOT NULL,
    state              TEXT NOT NULL,
    operator_id        TEXT NOT NULL,
    queued_at          INTEGER,
    created_at         INTEGER NOT NULL,
    modified_at        INTEGER NOT NULL,
    closed_at          INTEGER,
    rate               INTEGER,
    rated_operator_id  TEXT NOT NULL,
    next_seq           INTEGER NOT NULL
) STRICT;

CREATE INDEX chats_state_queued_at ON chats (state, queued_at);
CREATE INDEX chats_visitor_id ON chats (visitor_id);
CREATE INDEX chats_operator_modified_at ON chats (operator_id, modified_at, id);
CREATE INDEX chats_closed_at ON chats (closed_at);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    chat_id         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    author_id       TEXT NOT NULL,
    author_name     TEXT NOT NULL,
    text            TEXT NOT NULL,
    client_side_id  TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (chat_id, seq)
) STRICT;

CREATE UNIQUE INDEX messages_chat_client_side_id ON messages (chat_id, client_side_id)
    WHERE client_side_id <> '';
-- A visitor's history walks its chats and, in each, the messages by time.
CREATE INDEX messages_chat_created_at ON messages (chat_id, created_at, id);

CREATE TABLE operator_states (
    operator_id       TEXT PRIMARY KEY,
    status            TEXT NOT NULL,
    last_assigned_at  INTEGER,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE TABLE reads (
    chat_id    TEXT NOT NULL,
    side       TEXT NOT NULL,
    up_to_seq  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, side)
) STRICT, WITHOUT ROWID;
