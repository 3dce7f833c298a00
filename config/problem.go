package config

import (
	"fmt"
	"strings"
)

// FlagFile is the File of a Problem found in the command-line flags rather
// than in a file.
const FlagFile = "flag"

// maxValueLen bounds how much of an offending value a Problem prints.
const maxValueLen = 120

// Problem is one configuration mistake. It never holds a secret: values of
// mq_password are left out and passwords in db_dsn are masked.
type Problem struct {
	// File is the file the problem was found in, FlagFile for a flag, or
	// "" when it is not tied to a source.
	File string
	// Line is the 1-based line in File, or 0 when not meaningful.
	Line int
	// Key names what is wrong: a main.ini key ("mq_port"), a flag
	// ("--node_name") or a JSON path ("operators[1].login").
	Key string
	// Value is the offending value, or "" when not meaningful.
	Value string
	// Reason says what is wrong and, where it helps, what is expected.
	Reason string
}

// String formats the problem for an operator, e.g.
//
//	main.ini:12: mq_port = "abc": not a port number (1-65535)
//	flag --multinode_mode = "boss": must be master or slave
func (p Problem) String() string {
	var b strings.Builder
	switch {
	case p.File == FlagFile:
		b.WriteString("flag ")
	case p.File != "" && p.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", p.File, p.Line)
	case p.File != "":
		b.WriteString(p.File + ": ")
	}
	value := p.Value
	if len(value) > maxValueLen {
		value = value[:maxValueLen] + "..."
	}
	switch {
	case p.Key != "" && value != "":
		fmt.Fprintf(&b, "%s = %q: ", p.Key, value)
	case p.Key != "":
		b.WriteString(p.Key + ": ")
	case value != "":
		fmt.Fprintf(&b, "%q: ", value)
	}
	b.WriteString(p.Reason)
	return b.String()
}

// Problems is every problem found in a configuration. A non-empty Problems
// is the error Load returns.
type Problems []Problem

// Error returns one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// As lets errors.As fill either a Problems or a *Problems variable from a
// Problems or *Problems error.
func (ps Problems) As(target any) bool {
	switch t := target.(type) {
	case *Problems:
		*t = ps
		return true
	case **Problems:
		cp := ps
		*t = &cp
		return true
	}
	return false
}

// add appends a problem.
func (ps *Problems) add(file string, line int, key, value, reason string) {
	*ps = append(*ps, Problem{File: file, Line: line, Key: key, Value: value, Reason: reason})
}

// addf appends a problem whose reason is formatted.
func (ps *Problems) addf(file string, line int, key, value, format string, args ...any) {
	ps.add(file, line, key, value, fmt.Sprintf(format, args...))
}

// err returns ps as an error, or nil when there is no problem.
func (ps Problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ps
}
