package config

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Accounts are the departments and operators a node knows, read from the
// accounts_file JSON:
//
//	{"departments": [{"key": "sales", "name": "Sales"}],
//	 "operators": [{"id": "1", "login": "alice", "name": "Alice",
//	                "password_hash": "$2a$10$...", "departments": ["sales"],
//	                "max_chats": 5}]}
type Accounts struct {
	// Departments are the departments chats may be started for.
	Departments []Department
	// Operators are the support agents who may log in.
	Operators []Operator
}

// Department is a group of operators a chat may be addressed to.
type Department struct {
	// Key identifies the department in the API (JSON "key").
	Key string
	// Name is shown to visitors and operators (JSON "name").
	Name string
}

// Operator is a support agent account.
type Operator struct {
	// ID identifies the operator in the API and in events (JSON "id").
	ID string
	// Login is what the operator logs in with (JSON "login").
	Login string
	// Name is the operator's display name (JSON "name").
	Name string
	// PasswordHash is the bcrypt hash of the password (JSON
	// "password_hash"); `chatnode hash-password` makes one.
	PasswordHash string
	// Departments are the keys of the operator's departments (JSON
	// "departments").
	Departments []string
	// MaxChats is how many chats the operator handles at once, at least 1
	// (JSON "max_chats").
	MaxChats int
}

// sampleHash is the bcrypt hash (cost 10) of the password "password", used
// by the built-in sample accounts.
const sampleHash = "$2a$10$8w7yhFLAtAUs1vkb.vYEgemsasKFaRnGcsp0adWQjHfOM2Hb00xDu"

// DefaultAccounts returns the built-in sample accounts used when
// accounts_file is not set: departments "sales" and "support", operator 1
// "alice" (support, sales) and 2 "bob" (support), both with max_chats 5
// and the password "password". They are meant for trying chatnode out, not
// for production.
func DefaultAccounts() *Accounts {
	return &Accounts{
		Departments: []Department{
			{Key: "sales", Name: "Sales"},
			{Key: "support", Name: "Support"},
		},
		Operators: []Operator{
			{ID: "1", Login: "alice", Name: "Alice", PasswordHash: sampleHash,
				Departments: []string{"support", "sales"}, MaxChats: 5},
			{ID: "2", Login: "bob", Name: "Bob", PasswordHash: sampleHash,
				Departments: []string{"support"}, MaxChats: 5},
		},
	}
}

// LoadAccounts reads and validates the accounts file at path. It returns
// every problem found, each naming the file, the line, the JSON path (such
// as "operators[1].login") and the value; the accounts are nil when there is
// any problem.
func LoadAccounts(path string) (*Accounts, Problems) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{{File: path, Reason: "cannot read: " + describeFileError(err)}}
	}
	return parseAccounts(path, data)
}

// parseAccounts parses and validates the accounts JSON in data, read from
// file.
func parseAccounts(file string, data []byte) (*Accounts, Problems) {
	var ps Problems
	root, line, err := parseJSON(data)
	if err != nil {
		ps.add(file, line, "", "", err.Error())
		return nil, ps
	}
	r := &jsonReader{file: file, problems: &ps, secret: map[string]bool{"password_hash": true}}
	fields := r.object(root, "", "departments", "operators")
	if fields == nil {
		return nil, ps
	}
	r.require(fields, root.line, "", "departments", "operators")

	a := &Accounts{}
	depts := make(map[string]bool)
	if f, ok := fields["departments"]; ok {
		elems, _ := r.array(f.val, "departments")
		for i, e := range elems {
			if d, ok := r.department(e, indexPath("departments", i), depts); ok {
				a.Departments = append(a.Departments, d)
			}
		}
	}
	if f, ok := fields["operators"]; ok {
		elems, ok := r.array(f.val, "operators")
		if ok && len(elems) == 0 {
			ps.add(file, f.val.line, "operators", "", "must list at least one operator")
		}
		ids, logins := make(map[string]bool), make(map[string]bool)
		for i, e := range elems {
			if op, ok := r.operator(e, indexPath("operators", i), depts, ids, logins); ok {
				a.Operators = append(a.Operators, op)
			}
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return a, nil
}

// department reads one department; seen collects the keys read so far.
func (r *jsonReader) department(n *jsonNode, path string, seen map[string]bool) (Department, bool) {
	fields := r.object(n, path, "key", "name")
	if fields == nil {
		return Department{}, false
	}
	before := len(*r.problems)
	r.require(fields, n.line, path, "key", "name")
	var d Department
	if f, ok := fields["key"]; ok {
		p := joinPath(path, "key")
		if s, ok := r.str(f.val, p); ok {
			d.Key = s
			switch {
			case strings.TrimSpace(s) == "":
				r.bad(f.val, p, s, "must not be empty")
			case seen[s]:
				r.bad(f.val, p, s, "duplicate department key")
			}
			seen[s] = true
		}
	}
	if f, ok := fields["name"]; ok {
		p := joinPath(path, "name")
		if s, ok := r.str(f.val, p); ok {
			d.Name = s
			if strings.TrimSpace(s) == "" {
				r.bad(f.val, p, s, "must not be empty")
			}
		}
	}
	return d, len(*r.problems) == before
}

// operator reads one operator. depts are the known department keys; ids and
// logins collect the values read so far.
func (r *jsonReader) operator(n *jsonNode, path string, depts, ids, logins map[string]bool) (Operator, bool) {
	known := []string{"id", "login", "name", "password_hash", "departments", "max_chats"}
	fields := r.object(n, path, known...)
	if fields == nil {
		return Operator{}, false
	}
	before := len(*r.problems)
	r.require(fields, n.line, path, "id", "login", "name", "password_hash", "max_chats")
	var op Operator
	op.ID = r.uniqueString(fields, path, "id", ids, "duplicate operator id")
	if f, ok := fields["id"]; ok && op.ID != "" && !positiveInteger(op.ID) {
		r.bad(f.val, joinPath(path, "id"), op.ID, "must be a positive integer (visitor clients read operator ids as numbers)")
	}
	op.Login = r.uniqueString(fields, path, "login", logins, "duplicate operator login")
	if f, ok := fields["name"]; ok {
		p := joinPath(path, "name")
		if s, ok := r.str(f.val, p); ok {
			op.Name = s
			if strings.TrimSpace(s) == "" {
				r.bad(f.val, p, s, "must not be empty")
			}
		}
	}
	if f, ok := fields["password_hash"]; ok {
		p := joinPath(path, "password_hash")
		if s, ok := r.str(f.val, p); ok {
			op.PasswordHash = s
			if _, err := bcrypt.Cost([]byte(s)); err != nil {
				r.bad(f.val, p, "", "not a bcrypt hash (make one with `chatnode hash-password`)")
			}
		}
	}
	if f, ok := fields["departments"]; ok {
		p := joinPath(path, "departments")
		elems, _ := r.array(f.val, p)
		for i, e := range elems {
			ep := indexPath(p, i)
			k, ok := r.str(e, ep)
			if !ok {
				continue
			}
			switch {
			case !depts[k]:
				r.bad(e, ep, k, "no such department")
			case slices.Contains(op.Departments, k):
				r.bad(e, ep, k, "listed twice")
			}
			op.Departments = append(op.Departments, k)
		}
	}
	if f, ok := fields["max_chats"]; ok {
		p := joinPath(path, "max_chats")
		if v, ok := r.integer(f.val, p); ok {
			op.MaxChats = v
			if v < 1 {
				r.bad(f.val, p, f.val.str, "must be at least 1")
			}
		}
	}
	return op, len(*r.problems) == before
}

// positiveInteger reports whether s is a decimal number from 1 to 2^53-1,
// which every JSON client reads exactly.
func positiveInteger(s string) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n >= 1 && n < 1<<53 && strconv.FormatInt(n, 10) == s
}

// uniqueString reads a non-empty string field that must be unique among the
// values in seen.
func (r *jsonReader) uniqueString(fields map[string]jsonField, path, name string, seen map[string]bool, dupReason string) string {
	f, ok := fields[name]
	if !ok {
		return ""
	}
	p := joinPath(path, name)
	s, ok := r.str(f.val, p)
	if !ok {
		return ""
	}
	switch {
	case strings.TrimSpace(s) == "":
		r.bad(f.val, p, s, "must not be empty")
	case seen[s]:
		r.bad(f.val, p, s, dupReason)
	}
	seen[s] = true
	return s
}

// describeFileError returns the reason of a file system error without
// repeating the path.
func describeFileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
