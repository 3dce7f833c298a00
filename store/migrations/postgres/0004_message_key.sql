-- A message's id is its chat's id and its seq (store.MessageID): the
-- (chat_id, seq) key identifies it, and a second unique index on id only
-- cost every insert a page.
ALTER TABLE messages DROP CONSTRAINT messages_pkey;
ALTER TABLE messages DROP CONSTRAINT messages_chat_id_seq_key;
ALTER TABLE messages ADD PRIMARY KEY (chat_id, seq);
