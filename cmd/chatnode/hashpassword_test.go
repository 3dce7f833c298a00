package main

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	tests := []struct {
		name, input, password string
	}{
		{"newline", "s3cret pass\n", "s3cret pass"},
		{"crlf", "s3cret\r\nignored\n", "s3cret"},
		{"no newline", "s3cret", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := hashPassword(strings.NewReader(tt.input), &out); err != nil {
				t.Fatalf("hashPassword: %v", err)
			}
			hash, ok := strings.CutSuffix(out.String(), "\n")
			if !ok || strings.Contains(hash, "\n") {
				t.Fatalf("output %q is not one line", out.String())
			}
			if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.password)); err != nil {
				t.Fatalf("hash does not match the password: %v", err)
			}
			if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.DefaultCost {
				t.Fatalf("cost = %d, %v; want %d", cost, err, bcrypt.DefaultCost)
			}
		})
	}
}

func TestHashPasswordRejects(t *testing.T) {
	for name, input := range map[string]string{
		"empty input": "",
		"empty line":  "\n",
		"too long":    strings.Repeat("x", 73) + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := hashPassword(strings.NewReader(input), &out); err == nil {
				t.Fatal("want an error")
			}
			if out.Len() != 0 {
				t.Fatalf("wrote %q on error", out.String())
			}
		})
	}
}
