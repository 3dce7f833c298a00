package chatnode_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/chatnode/chatnode"
)

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{chatnode.Errorf(chatnode.ENoChat, "no open chat"), chatnode.ENoChat},
		{fmt.Errorf("wrapped: %w", chatnode.Errorf(chatnode.ERateIncorrect, "x")), chatnode.ERateIncorrect},
		{errors.New("disk on fire"), chatnode.EInternal},
	}
	for _, tt := range tests {
		if got := chatnode.ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if msg := chatnode.ErrorMessage(errors.New("secret path /etc")); msg != "internal error" {
		t.Errorf("internal error leaked its text: %q", msg)
	}
}
