-- Messages are read back per chat in seq order, which the (chat_id, seq)
-- key already gives; a visitor's history sorts the few chats it has. The
-- separate (chat_id, created_at, id) index only cost every insert a page.
DROP INDEX messages_chat_created_at;
