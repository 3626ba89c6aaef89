package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/swaggo/swag/gen"
)

var update = flag.Bool("update", false, "rewrite the committed Swagger spec instead of checking it")

// specFiles maps generated files to where they are committed: the api embeds
// docs.go; docs/swagger holds the spec for readers and tools.
var specFiles = map[string][]string{
	"docs.go":      {"internal/apidocs/docs.go"},
	"swagger.json": {"internal/apidocs/swagger.json", "../../docs/swagger/swagger.json"},
	"swagger.yaml": {"internal/apidocs/swagger.yaml", "../../docs/swagger/swagger.yaml"},
}

// TestSwaggerUpToDate regenerates the spec from the handlers' annotations and
// fails when the committed spec differs. `make swagger` runs it with -update.
func TestSwaggerUpToDate(t *testing.T) {
	out := t.TempDir()
	err := gen.New().Build(&gen.Config{
		SearchDir:          "./,./internal/httpapi",
		MainAPIFile:        "main.go",
		OutputDir:          out,
		OutputTypes:        []string{"go", "json", "yaml"},
		PackageName:        "apidocs",
		PropNamingStrategy: "camelcase",
		ParseDepth:         100,
		ParseGoList:        true,
		LeftTemplateDelim:  "{{",
		RightTemplateDelim: "}}",
		CollectionFormat:   "csv",
		Debugger:           quietLogger{},
	})
	if err != nil {
		t.Fatalf("generate swagger: %v", err)
	}
	for name, targets := range specFiles {
		want, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range targets {
			if *update {
				if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(target, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(target)
			if err != nil {
				t.Fatalf("read %s: %v (run `make swagger`)", target, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: the handlers' annotations changed; run `make swagger` and commit the result", target)
			}
		}
	}
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
