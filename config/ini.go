package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// overlayDir is the directory, beside main.ini, whose *.ini files overlay it.
const overlayDir = "main.ini.d"

// iniEntry is one "key = value" line.
type iniEntry struct {
	file  string
	line  int
	key   string
	value string
	// malformed is true when the value could not be read; the problem is
	// already reported, but the key still counts as set.
	malformed bool
}

// parseINI parses a flat ini file read from file:
//
//	; a comment            (also "# a comment"; comments take whole lines)
//	key = value
//	key = "quoted value"   (Go string syntax, for values with edge spaces)
//
// Blank lines are skipped. Every malformed line is reported; the well-formed
// ones, and those whose value is malformed, are returned in file order.
func parseINI(file string, data []byte) ([]iniEntry, Problems) {
	var (
		entries []iniEntry
		ps      Problems
	)
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		n := i + 1
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			ps.add(file, n, "", "", "not a \"key = value\" line (comments start with ';' or '#')")
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if key == "" {
			ps.add(file, n, "", "", "missing key before '='")
			continue
		}
		if strings.HasPrefix(value, `"`) {
			unquoted, err := strconv.Unquote(value)
			if err != nil {
				shown := value
				if isSecretKey(key) {
					shown = ""
				}
				ps.add(file, n, key, shown, "malformed quoted value (a closing '\"' is missing or an escape is wrong)")
				entries = append(entries, iniEntry{file: file, line: n, key: key, malformed: true})
				continue
			}
			value = unquoted
		}
		entries = append(entries, iniEntry{file: file, line: n, key: key, value: value})
	}
	return entries, ps
}

// readINIFiles reads main.ini at path and then every overlay in
// main.ini.d/*.ini beside it, in file-name order. The returned entries are
// in the order they apply: a later entry for a key overrides an earlier one.
// files lists main.ini and the overlays read, in order; it is empty when
// main.ini itself cannot be read.
func readINIFiles(path string) (entries []iniEntry, files []string, ps Problems) {
	data, err := os.ReadFile(path)
	if err != nil {
		ps.add(FlagFile, 0, "--config", path, "cannot read: "+describeFileError(err))
		return nil, nil, ps
	}
	files = append(files, path)
	entries, ps = parseINI(path, data)

	overlays, ops := overlayFiles(filepath.Join(filepath.Dir(path), overlayDir))
	ps = append(ps, ops...)
	for _, file := range overlays {
		data, err := os.ReadFile(file)
		if err != nil {
			ps.add(file, 0, "", "", "cannot read: "+describeFileError(err))
			continue
		}
		oe, ops := parseINI(file, data)
		entries = append(entries, oe...)
		ps = append(ps, ops...)
		files = append(files, file)
	}
	return entries, files, ps
}

// overlayFiles lists the *.ini files in dir in name order, skipping hidden
// files and directories. A missing dir holds no overlays.
func overlayFiles(dir string) ([]string, Problems) {
	list, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, Problems{{File: dir, Reason: "cannot read overlay directory: " + describeFileError(err)}}
	}
	var files []string
	for _, e := range list { // os.ReadDir sorts by name
		name := e.Name()
		if !strings.HasSuffix(name, ".ini") || strings.HasPrefix(name, ".") {
			continue
		}
		file := filepath.Join(dir, name)
		if info, err := os.Stat(file); err == nil && info.IsDir() { // follows symlinks
			continue
		}
		files = append(files, file)
	}
	return files, nil
}
