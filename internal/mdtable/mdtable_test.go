package mdtable

import (
	"slices"
	"testing"
)

func TestSplitRow(t *testing.T) {
	for row, want := range map[string][]string{
		"| `--a` | `A` |  x |":      {"`--a`", "`A`", "x"},
		`| a \| b | c |`:            {"a | b", "c"},
		"|a||":                      {"a", ""},
		"  | only |  ":              {"only"},
		"| trailing backslash \\ |": {"trailing backslash \\"},
	} {
		if got := SplitRow(row); !slices.Equal(got, want) {
			t.Errorf("SplitRow(%q) = %q, want %q", row, got, want)
		}
	}
}

func TestTable(t *testing.T) {
	doc := []byte("# T\n\n## Other\n\n| key | v |\n|---|---|\n| no | 1 |\n\n## Keys\n\ntext\n\n| name | x |\n|-|-|\n| skip | 0 |\n\n| key | v |\n| :-- | --: |\n| a | 1 |\n| b \\| c | 2 |\n| bad |\n")
	rows, problems := Table(doc, "doc.md", "Keys", "key", 2)
	if len(rows) != 2 || rows[0].Cells[0] != "a" || rows[1].Cells[0] != "b | c" || rows[0].Line != 19 {
		t.Errorf("rows = %+v", rows)
	}
	if len(problems) != 1 || problems[0] != "doc.md line 21: 1 columns, want 2: | bad |" {
		t.Errorf("problems = %q", problems)
	}
	if _, problems := Table(doc, "doc.md", "Keys", "flag", 2); len(problems) != 1 {
		t.Errorf("a missing table: problems = %q", problems)
	}
}
