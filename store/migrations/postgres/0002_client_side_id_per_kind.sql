-- A client-side id is the client's: a visitor's and an operator's messages
-- may share one. It is unique per chat and message kind.
DROP INDEX messages_chat_client_side_id;
CREATE UNIQUE INDEX messages_chat_kind_client_side_id ON messages (chat_id, kind, client_side_id)
    WHERE client_side_id <> '';
