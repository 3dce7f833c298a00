-- Initial schema. NULL in queued_at, closed_at and last_assigned_at means
-- "never".

CREATE TABLE visitors (
    id          text PRIMARY KEY,
    page_id     text NOT NULL,
    auth_token  text NOT NULL,
    device_id   text NOT NULL,
    fields      bytea,
    created_at  timestamptz NOT NULL,
    seen_at     timestamptz NOT NULL
);

CREATE INDEX visitors_seen_at ON visitors (seen_at);

CREATE TABLE chats (
    id                 text PRIMARY KEY,
    visitor_id         text NOT NULL,
    client_side_id     text NOT NULL,
    department_key     text NOT NULL,
    state              text NOT NULL,
    operator_id        text NOT NULL,
    queued_at          timestamptz,
    created_at         timestamptz NOT NULL,
    modified_at        timestamptz NOT NULL,
    closed_at          timestamptz,
    rate               smallint,
    rated_operator_id  text NOT NULL,
    next_seq           bigint NOT NULL
);

CREATE INDEX chats_state_queued_at ON chats (state, queued_at);
CREATE INDEX chats_visitor_id ON chats (visitor_id);
CREATE INDEX chats_operator_modified_at ON chats (operator_id, modified_at, id);
CREATE INDEX chats_closed_at ON chats (closed_at);

CREATE TABLE messages (
    id              text PRIMARY KEY,
    chat_id         text NOT NULL,
    seq             bigint NOT NULL,
    kind            text NOT NULL,
    author_id       text NOT NULL,
    author_name     text NOT NULL,
    text            text NOT NULL,
    client_side_id  text NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (chat_id, seq)
);

CREATE UNIQUE INDEX messages_chat_client_side_id ON messages (chat_id, client_side_id)
    WHERE client_side_id <> '';
-- A visitor's history walks its chats and, in each, the messages by time.
CREATE INDEX messages_chat_created_at ON messages (chat_id, created_at, id);

CREATE TABLE operator_states (
    operator_id       text PRIMARY KEY,
    status            text NOT NULL,
    last_assigned_at  timestamptz,
    updated_at        timestamptz NOT NULL
);

CREATE TABLE reads (
    chat_id    text NOT NULL,
    side       text NOT NULL,
    up_to_seq  bigint NOT NULL,
    PRIMARY KEY (chat_id, side)
);
