package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The JSON files (cluster description, accounts) are read into a small tree
// that remembers the line of every value, so that each mistake can be
// reported with its line and all of them at once, instead of stopping at the
// first unknown field or wrong type as encoding/json does.

// jsonKind is the kind of a JSON value.
type jsonKind int

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

func (k jsonKind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

// jsonNode is one JSON value and the line it starts on.
type jsonNode struct {
	kind   jsonKind
	line   int
	str    string // string value or number literal
	elems  []*jsonNode
	fields []jsonField
}

// jsonField is one member of a JSON object.
type jsonField struct {
	name string
	line int
	val  *jsonNode
}

// maxJSONDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxJSONDepth = 64

// jsonParser reads a jsonNode tree with line numbers.
type jsonParser struct {
	dec      *json.Decoder
	newlines []int // offsets of '\n' in the input
}

// parseJSON parses data into a tree. A syntax error is returned with the
// line it occurred on.
func parseJSON(data []byte) (*jsonNode, int, error) {
	p := &jsonParser{dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	for i, c := range data {
		if c == '\n' {
			p.newlines = append(p.newlines, i)
		}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, 1, errors.New("empty file, expected a JSON object")
	}
	root, err := p.value(0)
	if err == nil {
		if _, terr := p.dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the top-level JSON value")
		}
	}
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return nil, p.lineAt(syn.Offset), fmt.Errorf("malformed JSON: %s", syn.Error())
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, p.lineAt(int64(len(data))), errors.New("malformed JSON: unexpected end of file")
		}
		return nil, p.lineAt(p.dec.InputOffset()), fmt.Errorf("malformed JSON: %s", err.Error())
	}
	return root, 0, nil
}

// lineAt returns the 1-based line holding byte offset off.
func (p *jsonParser) lineAt(off int64) int {
	return sort.Search(len(p.newlines), func(i int) bool { return int64(p.newlines[i]) >= off }) + 1
}

// line returns the line of the token just read.
func (p *jsonParser) line() int {
	off := p.dec.InputOffset() - 1
	if off < 0 {
		off = 0
	}
	return p.lineAt(off)
}

func (p *jsonParser) value(depth int) (*jsonNode, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("JSON nested deeper than %d levels", maxJSONDepth)
	}
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	n := &jsonNode{line: p.line()}
	switch t := tok.(type) {
	case nil:
		n.kind = jsonNull
	case bool:
		n.kind, n.str = jsonBool, strconv.FormatBool(t)
	case json.Number:
		n.kind, n.str = jsonNumber, t.String()
	case string:
		n.kind, n.str = jsonString, t
	case json.Delim:
		switch t {
		case '[':
			n.kind = jsonArray
			for p.dec.More() {
				e, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.elems = append(n.elems, e)
			}
		case '{':
			n.kind = jsonObject
			for p.dec.More() {
				key, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				f := jsonField{name: key.(string), line: p.line()}
				if f.val, err = p.value(depth + 1); err != nil {
					return nil, err
				}
				n.fields = append(n.fields, f)
			}
		}
		if _, err := p.dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
	}
	return n, nil
}

// jsonReader turns a jsonNode tree into Go values, collecting a Problem for
// every mistake.
type jsonReader struct {
	file     string
	problems *Problems
	// secret lists the paths (last element) whose values must not be printed.
	secret map[string]bool
}

func (r *jsonReader) bad(n *jsonNode, path, value, reason string) {
	r.problems.add(r.file, n.line, path, value, reason)
}

// object checks that n is an object with only known field names, reports
// duplicates and returns the fields by name.
func (r *jsonReader) object(n *jsonNode, path string, known ...string) map[string]jsonField {
	if n.kind != jsonObject {
		r.bad(n, path, "", "must be an object, not "+n.kind.String())
		return nil
	}
	fields := make(map[string]jsonField, len(n.fields))
	for _, f := range n.fields {
		fpath := joinPath(path, f.name)
		if !slices.Contains(known, f.name) {
			r.problems.addf(r.file, f.line, fpath, "", "unknown field (known: %s)", strings.Join(known, ", "))
			continue
		}
		if _, dup := fields[f.name]; dup {
			r.problems.add(r.file, f.line, fpath, "", "duplicate field")
		}
		fields[f.name] = f
	}
	return fields
}

// require reports a field missing from an object found at line.
func (r *jsonReader) require(fields map[string]jsonField, line int, path string, names ...string) {
	if fields == nil {
		return
	}
	for _, name := range names {
		if _, ok := fields[name]; !ok {
			r.problems.add(r.file, line, joinPath(path, name), "", "missing")
		}
	}
}

// str returns the string at n, reporting another kind.
func (r *jsonReader) str(n *jsonNode, path string) (string, bool) {
	if n.kind != jsonString {
		r.bad(n, path, r.shown(n, path), "must be a string, not "+n.kind.String())
		return "", false
	}
	return n.str, true
}

// integer returns the integer at n, reporting another kind or a fraction.
func (r *jsonReader) integer(n *jsonNode, path string) (int, bool) {
	if n.kind != jsonNumber {
		r.bad(n, path, r.shown(n, path), "must be an integer, not "+n.kind.String())
		return 0, false
	}
	v, err := strconv.Atoi(n.str)
	if err != nil {
		r.bad(n, path, n.str, "must be an integer")
		return 0, false
	}
	return v, true
}

// array returns the elements at n, reporting another kind.
func (r *jsonReader) array(n *jsonNode, path string) ([]*jsonNode, bool) {
	if n.kind != jsonArray {
		r.bad(n, path, "", "must be an array, not "+n.kind.String())
		return nil, false
	}
	return n.elems, true
}

// shown returns the scalar at n for a problem, unless it is secret.
func (r *jsonReader) shown(n *jsonNode, path string) string {
	if r.secret[lastElem(path)] || n.kind == jsonArray || n.kind == jsonObject {
		return ""
	}
	return n.str
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

func lastElem(path string) string {
	return path[strings.LastIndexByte(path, '.')+1:]
}
