// Package mdtable reads the rows of Markdown tables, for the tests that hold the documentation
// to the code.
package mdtable

import (
	"fmt"
	"strings"
)

// SplitRow splits a table row on its unescaped pipes into trimmed cells; `\|` is a pipe
// inside a cell.
func SplitRow(l string) []string {
	l = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(l); i++ {
		switch {
		case l[i] == '\\' && i+1 < len(l) && l[i+1] == '|':
			cur.WriteByte('|')
			i++
		case l[i] == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(l[i])
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// Row is a table body row: its 1-based line number and its cells.
type Row struct {
	Line  int
	Cells []string
}

// Table returns the body rows of the first table under the heading "## section" whose first
// header cell is first, each of which must have cols cells, and what is malformed: a row with
// another number of cells, or no such table. name names the document in the messages.
func Table(doc []byte, name, section, first string, cols int) (rows []Row, problems []string) {
	in, inTable, found := false, false, false
	for i, l := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			in = strings.TrimSpace(strings.TrimPrefix(l, "## ")) == section
			inTable = false
			continue
		case !in:
			continue
		case !strings.HasPrefix(l, "|"):
			inTable = false
			continue
		}
		cells := SplitRow(l)
		if !inTable {
			if cells[0] == first && !found {
				inTable, found = true, true
			}
			continue
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the separator row
		}
		if len(cells) != cols {
			problems = append(problems, fmt.Sprintf("%s line %d: %d columns, want %d: %s", name, i+1, len(cells), cols, l))
			continue
		}
		rows = append(rows, Row{Line: i + 1, Cells: cells})
	}
	if len(rows) == 0 {
		problems = append(problems, fmt.Sprintf("%s: no table whose first column is %q under \"## %s\"", name, first, section))
	}
	return rows, problems
}
