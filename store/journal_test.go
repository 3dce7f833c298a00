package store_test

import (
	"testing"

	"github.com/chatnode/chatnode/store"
	"github.com/chatnode/chatnode/store/storetest"
)

func TestJournaled(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := store.Open(t.Context(), store.KindSQLite, t.TempDir(), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
