package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// hashPassword reads one password (the first line of in, without its line
// ending) and writes its bcrypt hash and a newline to out, ready for the
// password_hash field of an accounts file. It rejects an empty password and
// one longer than bcrypt's 72 bytes.
func hashPassword(in io.Reader, out io.Writer) error {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	password := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if password == "" {
		return errors.New("empty password: write the password as the first line of standard input")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	if _, err := fmt.Fprintf(out, "%s\n", hash); err != nil {
		return fmt.Errorf("write hash: %w", err)
	}
	return nil
}
