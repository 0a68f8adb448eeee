package extproc

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestErrorTableDocumented holds docs/extproc-contract.md's error table to
// errorTable: every kind documented with its status and code, none missing.
func TestErrorTableDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/extproc-contract.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]errorMapping{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		name := strings.Trim(strings.Fields(strings.TrimSpace(cells[1]))[0], "`")
		status, err1 := strconv.Atoi(strings.TrimSpace(cells[2]))
		code, err2 := strconv.Atoi(strings.TrimSpace(cells[3]))
		if err1 != nil || err2 != nil {
			continue // another table's row
		}
		documented[name] = errorMapping{status, code}
	}
	for kind, m := range errorTable {
		if got, ok := documented[kind.String()]; !ok || got != m {
			t.Errorf("kind %s: documented %+v (present %v), table says %+v", kind, got, ok, m)
		}
	}
	if len(documented) != len(errorTable) {
		t.Errorf("the page documents %d kinds, the table has %d", len(documented), len(errorTable))
	}
}
