package reindex

import (
	"strings"
	"testing"

	wire "github.com/instachat/instachat/pkg/search/reindex"
)

func TestSplitKeepsCallsWithinLimits(t *testing.T) {
	big := strings.Repeat("x", 16*1024)
	tests := []struct {
		name      string
		docs      int
		body      string
		wantCalls int
	}{
		{"empty", 0, "", 0},
		{"small batch in one call", 10, "hi", 1},
		{"count limit", 2500, "hi", 3},
		{"byte limit", 600, big, 3}, // 4 MiB holds 256 bodies of 16 KiB
	}
	for _, tt := range tests {
		docs := make([]wire.Doc, tt.docs)
		for i := range docs {
			docs[i] = wire.Doc{Number: int64(i), Body: tt.body}
		}
		calls := split(docs)
		if len(calls) != tt.wantCalls {
			t.Errorf("%s: got %d calls, want %d", tt.name, len(calls), tt.wantCalls)
		}
		seen := 0
		for _, c := range calls {
			bytes := 0
			for _, d := range c {
				if d.Number != int64(seen) {
					t.Fatalf("%s: got doc %d at position %d, want order kept", tt.name, d.Number, seen)
				}
				seen++
				bytes += len(d.Body)
			}
			if len(c) > maxCallDocs || bytes > maxCallBodyBytes {
				t.Errorf("%s: call of %d docs, %d bytes exceeds the limits", tt.name, len(c), bytes)
			}
		}
		if seen != tt.docs {
			t.Errorf("%s: got %d docs across calls, want %d", tt.name, seen, tt.docs)
		}
	}
}
