-- A client's resend is answered by its chat's actor, which holds all of the
-- chat's messages; the store keys messages by (chat_id, seq) alone. The
-- unique key on client-side ids put each insert at a random place within
-- its chat, a page of its own, and was half of what writing a message cost.
DROP INDEX messages_chat_kind_client_side_id;
