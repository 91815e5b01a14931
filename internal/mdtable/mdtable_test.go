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
