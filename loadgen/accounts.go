package loadgen

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/crypto/bcrypt"
)

// AccountsOptions describe an accounts file of load-test operators.
type AccountsOptions struct {
	Operators int    // how many, logins Prefix1 … PrefixN, ids 1 … N
	Prefix    string // login prefix
	Password  string // everyone's password
	MaxChats  int    // everyone's max_chats
}

// WriteAccounts writes an accounts_file for a node under load: the
// departments "support" and "sales" and the operators, all in both. The
// password is hashed at bcrypt's lowest cost so that hundreds of logins
// stay cheap: such a file is for load tests only.
func WriteAccounts(w io.Writer, a AccountsOptions) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(a.Password), bcrypt.MinCost)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	type op struct {
		ID           string   `json:"id"`
		Login        string   `json:"login"`
		Name         string   `json:"name"`
		PasswordHash string   `json:"password_hash"`
		Departments  []string `json:"departments"`
		MaxChats     int      `json:"max_chats"`
	}
	type dept struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	}
	file := struct {
		Departments []dept `json:"departments"`
		Operators   []op   `json:"operators"`
	}{Departments: []dept{{"sales", "Sales"}, {"support", "Support"}}}
	for i := 1; i <= a.Operators; i++ {
		n := strconv.Itoa(i)
		file.Operators = append(file.Operators, op{
			ID: n, Login: a.Prefix + n, Name: "Operator " + n, PasswordHash: string(hash),
			Departments: []string{"support", "sales"}, MaxChats: a.MaxChats,
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(file)
}

// AccountsUsage is the help text of `chatload accounts`.
const AccountsUsage = `chatload accounts prints an accounts_file of load-test operators
(bcrypt at its lowest cost: for load tests only).

  chatload accounts [--operators N] [--operator-login-prefix P] [--password PW] [--max-chats N] > accounts.json

  --operators N              operators, ids 1…N, logins P1…PN (default 50)
  --operator-login-prefix P  login prefix (default op)
  --password PW              everyone's password (default password)
  --max-chats N              everyone's max_chats (default 10)
`

// ParseAccountsFlags reads the flags of `chatload accounts`.
func ParseAccountsFlags(args []string) (AccountsOptions, error) {
	fs := flag.NewFlagSet("chatload accounts", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.String("operators", "50", "")
	prefix := fs.String("operator-login-prefix", DefaultLoginPrefix, "")
	password := fs.String("password", DefaultPassword, "")
	maxChats := fs.String("max-chats", "10", "")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return AccountsOptions{}, err
		}
		return AccountsOptions{}, &OptionsError{Problems: []string{err.Error()}}
	}
	var ps problems
	if fs.NArg() > 0 {
		ps = append(ps, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	a := AccountsOptions{Prefix: *prefix, Password: *password}
	a.Operators = ps.parseInt("--operators", *n, 1)
	a.MaxChats = ps.parseInt("--max-chats", *maxChats, 1)
	ps.intRange("--operators", a.Operators, 1, MaxOperators)
	if *prefix == "" {
		ps.add("--operator-login-prefix", *prefix, "must not be empty")
	}
	if *password == "" || len(*password) > 72 {
		ps.add("--password", "…", "must be 1 to 72 bytes")
	}
	return a, ps.err()
}
