package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// accountsJSON renders accounts as an accounts file.
func accountsJSON(t *testing.T, a *Accounts) string {
	t.Helper()
	type dept struct {
		Key  string `json:"key"`
		Name string `json:"name"`
	}
	type op struct {
		ID           string   `json:"id"`
		Login        string   `json:"login"`
		Name         string   `json:"name"`
		PasswordHash string   `json:"password_hash"`
		Departments  []string `json:"departments"`
		MaxChats     int      `json:"max_chats"`
	}
	var file struct {
		Departments []dept `json:"departments"`
		Operators   []op   `json:"operators"`
	}
	for _, d := range a.Departments {
		file.Departments = append(file.Departments, dept(d))
	}
	for _, o := range a.Operators {
		file.Operators = append(file.Operators, op(o))
	}
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDefaultAccounts(t *testing.T) {
	a := DefaultAccounts()
	path := writeFile(t, t.TempDir(), "accounts.json", accountsJSON(t, a))
	loaded, ps := LoadAccounts(path)
	if len(ps) != 0 {
		t.Fatalf("DefaultAccounts do not pass validation:\n%s", ps.Error())
	}
	if !reflect.DeepEqual(loaded, a) {
		t.Fatalf("round trip = %+v, want %+v", loaded, a)
	}
	for _, op := range a.Operators {
		if err := bcrypt.CompareHashAndPassword([]byte(op.PasswordHash), []byte("password")); err != nil {
			t.Errorf("%s: %v", op.Login, err)
		}
		if cost, _ := bcrypt.Cost([]byte(op.PasswordHash)); cost != bcrypt.DefaultCost {
			t.Errorf("%s: cost %d", op.Login, cost)
		}
	}
	a.Operators[0].Departments[0] = "changed"
	if DefaultAccounts().Operators[0].Departments[0] != "support" {
		t.Error("DefaultAccounts shares state between calls")
	}
}

func TestBadAccounts(t *testing.T) {
	// Each case edits one line of a valid file (one field per line).
	valid := accountsJSON(t, DefaultAccounts())
	lineOf := func(t *testing.T, s string) int {
		t.Helper()
		i := strings.Index(valid, s)
		if i < 0 {
			t.Fatalf("%q not in the valid file", s)
		}
		return strings.Count(valid[:i], "\n") + 1
	}
	tests := []struct {
		name     string
		old, new string // replace the first old by new
		want     func(t *testing.T) []loc
	}{
		{"empty id", `"id": "2"`, `"id": ""`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"id": "2"`), "operators[1].id"}}
		}},
		{"duplicate id", `"id": "2"`, `"id": "1"`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"id": "2"`), "operators[1].id"}}
		}},
		{"duplicate login", `"login": "bob"`, `"login": "alice"`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"login": "bob"`), "operators[1].login"}}
		}},
		{"empty login", `"login": "alice"`, `"login": " "`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"login": "alice"`), "operators[0].login"}}
		}},
		{"bad hash", `"password_hash": "$2a$10$8w7`, `"password_hash": "x$2a$10$8w7`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"password_hash"`), "operators[0].password_hash"}}
		}},
		{"unknown department", `"support",
        "sales"`, `"billing",
        "sales"`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"support",
        "sales"`), "operators[0].departments[0]"}}
		}},
		{"department listed twice", `"sales"
      ]`, `"support"
      ]`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"sales"
      ]`), "operators[0].departments[1]"}}
		}},
		{"duplicate department key", `"key": "support"`, `"key": "sales"`, func(t *testing.T) []loc {
			// "support" is gone, so the operators' references to it fail too.
			return []loc{
				{"accounts.json", lineOf(t, `"key": "support"`), "departments[1].key"},
				{"accounts.json", lineOf(t, `"support",
        "sales"`), "operators[0].departments[0]"},
				{"accounts.json", lineOf(t, `"support"
      ]`), "operators[1].departments[0]"},
			}
		}},
		{"empty department key", `"key": "sales"`, `"key": ""`, func(t *testing.T) []loc {
			// alice's "sales" then names a department that does not exist.
			return []loc{
				{"accounts.json", lineOf(t, `"key": "sales"`), "departments[0].key"},
				{"accounts.json", lineOf(t, `"sales"
      ]`), "operators[0].departments[1]"},
			}
		}},
		{"max_chats zero", `"max_chats": 5`, `"max_chats": 0`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"max_chats": 5`), "operators[0].max_chats"}}
		}},
		{"max_chats fraction", `"max_chats": 5`, `"max_chats": 2.5`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"max_chats": 5`), "operators[0].max_chats"}}
		}},
		{"max_chats string", `"max_chats": 5`, `"max_chats": "5"`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"max_chats": 5`), "operators[0].max_chats"}}
		}},
		{"unknown field", `"max_chats": 5`, `"max_chat": 5`, func(t *testing.T) []loc {
			line := lineOf(t, `"max_chats": 5`)
			return []loc{
				{"accounts.json", line, "operators[0].max_chat"},
				{"accounts.json", lineOf(t, `"id": "1"`) - 1, "operators[0].max_chats"},
			}
		}},
		{"malformed JSON", `"login": "bob",`, `"login": "bob"`, func(t *testing.T) []loc {
			return []loc{{"accounts.json", lineOf(t, `"login": "bob"`) + 1, ""}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := strings.Replace(valid, tt.old, tt.new, 1)
			if content == valid {
				t.Fatalf("%q not in the valid file", tt.old)
			}
			a, ps := LoadAccounts(writeFile(t, t.TempDir(), "accounts.json", content))
			if a != nil {
				t.Error("accounts returned with problems")
			}
			wantLocs(t, ps, tt.want(t)...)
			if strings.Contains(ps.Error(), "8w7yhFLAtAUs1vkb") {
				t.Errorf("a password hash was printed:\n%s", ps.Error())
			}
		})
	}
}

func TestBadAccountsShapes(t *testing.T) {
	tests := []struct {
		name, content string
		want          []loc
	}{
		{"empty file", "", []loc{{"accounts.json", 1, ""}}},
		{"not an object", "[]", []loc{{"accounts.json", 1, ""}}},
		{"no operators", `{"departments": [], "operators": []}`, []loc{{"accounts.json", 1, "operators"}}},
		{"missing sections", "{\n}", []loc{{"accounts.json", 1, "departments"}, {"accounts.json", 1, "operators"}}},
		{"operator not an object", `{"departments": [], "operators": ["alice"]}`, []loc{{"accounts.json", 1, "operators[0]"}}},
		{"trailing data", `{"departments": [], "operators": []} {}`, []loc{{"accounts.json", 1, ""}}},
		{"three problems", "{\"departments\": [{\"key\": \"a\", \"name\": \"A\"}, {\"key\": \"a\", \"name\": \"\"}],\n" +
			"\"operators\": [{\"id\": \"1\", \"login\": \"x\", \"name\": \"X\", \"password_hash\": \"" + sampleHash + "\",\n" +
			"\"departments\": [\"b\"], \"max_chats\": 1}]}",
			[]loc{{"accounts.json", 1, "departments[1].key"}, {"accounts.json", 1, "departments[1].name"}, {"accounts.json", 3, "operators[0].departments[0]"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := LoadAccounts(writeFile(t, t.TempDir(), "accounts.json", tt.content))
			wantLocs(t, ps, tt.want...)
		})
	}
}

func TestLoadAccountsMissingFile(t *testing.T) {
	_, ps := LoadAccounts(t.TempDir() + "/none.json")
	wantLocs(t, ps, loc{"none.json", 0, ""})
}

func TestAccountsFileKey(t *testing.T) {
	dir := t.TempDir()
	accounts := writeFile(t, dir, "accounts.json", accountsJSON(t, DefaultAccounts()))
	c := mustLoad(t, "--config", writeFile(t, dir, "main.ini", "accounts_file = "+accounts+"\n"))
	if c.AccountsFile != accounts || !reflect.DeepEqual(c.Accounts, DefaultAccounts()) {
		t.Fatalf("AccountsFile %q Accounts %+v", c.AccountsFile, c.Accounts)
	}

	bad := writeFile(t, dir, "bad.json", `{"departments": [], "operators": [{"id": "7"}]}`)
	ps := iniProblems(t, "accounts_file = "+bad+"\n")
	wantLocs(t, ps,
		loc{"bad.json", 1, "operators[0].login"}, loc{"bad.json", 1, "operators[0].name"},
		loc{"bad.json", 1, "operators[0].password_hash"}, loc{"bad.json", 1, "operators[0].max_chats"})
}

func TestOperatorIDMustBeNumeric(t *testing.T) {
	dir := t.TempDir()
	for _, id := range []string{`"op1"`, `"0"`, `"-3"`, `"01"`, `"9007199254740992"`} {
		path := writeFile(t, dir, "a.json", `{"departments": [], "operators": [{"id": `+id+`, "login": "a", "name": "A", "password_hash": "`+sampleHash+`", "max_chats": 1}]}`)
		_, ps := LoadAccounts(path)
		if len(ps) != 1 || ps[0].Key != "operators[0].id" {
			t.Errorf("id %s: problems %v, want one naming operators[0].id", id, ps)
		}
	}
}
