package deploycheck

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// root is the repository root, seen from this module's directory.
const root = ".."

// services are the InstaChat programs the deployment files run.
var services = []string{"api", "writer", "cron"}

// repoPath joins a slash-separated path onto the repository root.
func repoPath(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(p))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// envCall matches the config.Env reads in the services and pkg/config:
// env.String("NAME", "default"), e.Int("NAME", …), e.List("NAME", "a,b"),
// env.Required("NAME", …), env.Secret("NAME", "why", required).
var envCall = regexp.MustCompile(`\b[a-z]\w*\.(String|Int|Duration|List|Required|Secret)\(\s*"([A-Z][A-Z0-9_]*)"\s*,\s*("(?:[^"\\]|\\.)*")?(?:\s*,\s*(true|false))?`)

// serviceEnv is what one service reads from its environment, by name.
type serviceEnv map[string]envVar

// envVar is one variable a service reads.
type envVar struct {
	Default  string // when it is a string literal
	Required bool   // read with env.Required or env.Secret(…, true): the service does not start without it
	Secret   bool   // read with env.Secret: placeholders and short values are refused
}

// readEnv parses which variables each service reads: the non-test Go files
// of services/<name> (its package main, where the STYLE rules put every
// environment read) plus pkg/config/config.go (the shared settings).
func readEnv(t *testing.T) map[string]serviceEnv {
	t.Helper()
	common := serviceEnv{}
	scanEnv(t, repoPath("pkg/config/config.go"), common)
	if len(common) < 5 {
		t.Fatalf("pkg/config/config.go: found %d variables, want the shared settings (did the env API change?)", len(common))
	}
	out := map[string]serviceEnv{}
	for _, svc := range services {
		vars := serviceEnv{}
		for k, v := range common {
			vars[k] = v
		}
		files, err := filepath.Glob(repoPath("services/" + svc + "/*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !strings.HasSuffix(f, "_test.go") {
				scanEnv(t, f, vars)
			}
		}
		if _, ok := vars["HTTP_ADDR"]; !ok {
			t.Fatalf("services/%s: no HTTP_ADDR read found (did the env API change?)", svc)
		}
		out[svc] = vars
	}
	return out
}

func scanEnv(t *testing.T, file string, into serviceEnv) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range envCall.FindAllStringSubmatch(string(b), -1) {
		v := envVar{Required: m[1] == "Required" || m[1] == "Secret" && m[4] == "true", Secret: m[1] == "Secret"}
		if m[1] != "Required" && m[1] != "Secret" && strings.HasPrefix(m[3], `"`) {
			v.Default = strings.Trim(m[3], `"`)
		}
		into[m[2]] = v
	}
}

// port returns the port a service listens on by default (its HTTP_ADDR default).
func port(t *testing.T, env map[string]serviceEnv, svc string) string {
	t.Helper()
	addr := env[svc]["HTTP_ADDR"].Default
	i := strings.LastIndex(addr, ":")
	if i < 0 || addr[i+1:] == "" {
		t.Fatalf("services/%s: HTTP_ADDR default %q has no port", svc, addr)
	}
	return addr[i+1:]
}

// sortedKeys returns a map's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestReadEnv(t *testing.T) {
	env := readEnv(t)
	for _, tc := range []struct{ svc, name, port string }{
		{"api", "INTERNAL_TOKEN", "8080"},
		{"writer", "API_URL", "8081"},
		{"cron", "SYNC_SCHEDULE", "8082"},
	} {
		if _, ok := env[tc.svc][tc.name]; !ok {
			t.Errorf("%s: %s not found among the variables it reads: %v", tc.svc, tc.name, sortedKeys(env[tc.svc]))
		}
		if got := port(t, env, tc.svc); got != tc.port {
			t.Errorf("%s listens on :%s by default, want :%s (the deployment files assume it)", tc.svc, got, tc.port)
		}
	}
	for _, tc := range []struct {
		svc, name        string
		required, secret bool
	}{
		{"api", "INTERNAL_TOKEN", true, true},
		{"writer", "INTERNAL_TOKEN", true, true},
		{"api", "ADMIN_TOKEN", false, true},
		{"api", "MYSQL_DSN", false, false},
	} {
		if v := env[tc.svc][tc.name]; v.Required != tc.required || v.Secret != tc.secret {
			t.Errorf("%s %s: parsed as required %v, secret %v; want %v, %v", tc.svc, tc.name, v.Required, v.Secret, tc.required, tc.secret)
		}
	}
	if _, ok := env["cron"]["INTERNAL_TOKEN"]; ok {
		t.Errorf("cron reads INTERNAL_TOKEN: the parser leaks variables between services")
	}
}

// goFiles lists the non-test Go files under dir.
func goFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
