package deploycheck

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfileGoSteps replays the Go steps of deploy/Dockerfile's build
// stage for every service, since no container engine runs here: it copies
// exactly what each COPY takes from the build context (after .dockerignore)
// into a temporary directory laid out as the image's, and runs each `go …`
// command of the RUN lines there with the stage's ARG and ENV values, the
// golang image's GOTOOLCHAIN=local and no go env file. The host's module cache
// stands in for the cache mount. A file the Dockerfile forgets to copy fails
// here as it fails in `docker build`.
func TestDockerfileGoSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every service image's binaries")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	df := parseDockerfile(t, readFile(t, "deploy/Dockerfile"))
	ignore := readDockerignore(t)
	for _, svc := range services {
		t.Run(svc, func(t *testing.T) {
			replayBuildStage(t, df, ignore, map[string]string{"SERVICE": svc})
		})
	}
}

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, ARG, COPY, RUN, …
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and blank
// lines dropped, lines ending in a backslash joined with the next.
func parseDockerfile(t *testing.T, b []byte) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(cont + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("deploy/Dockerfile: line %d: continuation runs past the end", start)
	}
	return out
}

// replayBuildStage runs the stage named "build" with the given build args.
func replayBuildStage(t *testing.T, df []instruction, ignore []ignorePattern, buildArgs map[string]string) {
	t.Helper()
	tmp := t.TempDir()
	vars := map[string]string{} // ARG and ENV values seen in the stage
	global := map[string]string{}
	env := map[string]string{}
	workdir := "/"
	inBuild, seenBuild, goSteps := false, false, 0
	var outputs []string
	for _, in := range df {
		where := fmt.Sprintf("deploy/Dockerfile:%d: %s", in.line, in.cmd)
		if in.cmd == "FROM" {
			inBuild = strings.HasSuffix(strings.ToLower(in.args), " as build")
			seenBuild = seenBuild || inBuild
			continue
		}
		if in.cmd == "ARG" && !seenBuild && !inBuild { // global ARG before the first FROM
			name, def, _ := strings.Cut(in.args, "=")
			global[name] = def
			continue
		}
		if !inBuild {
			continue
		}
		switch in.cmd {
		case "ARG":
			name, def, hasDef := strings.Cut(in.args, "=")
			switch v, ok := buildArgs[name]; {
			case ok:
				vars[name] = v
			case hasDef:
				vars[name] = expand(def, vars)
			default:
				vars[name] = global[name]
			}
		case "ENV":
			for k, v := range parseEnv(t, where, in.args, vars) {
				vars[k], env[k] = v, v
			}
		case "WORKDIR":
			workdir = path.Join(workdir, expand(in.args, vars))
		case "COPY", "ADD":
			words := shellWords(t, where, in.args, vars)
			if len(words) > 0 && strings.HasPrefix(words[0], "--from") {
				continue // from another stage, not the build context
			}
			for len(words) > 0 && strings.HasPrefix(words[0], "--") {
				words = words[1:]
			}
			if len(words) < 2 {
				t.Fatalf("%s: want sources and a destination, got %q", where, in.args)
			}
			dst := words[len(words)-1]
			dstIsDir := strings.HasSuffix(dst, "/") || dst == "."
			if !path.IsAbs(dst) {
				dst = path.Join(workdir, dst)
			}
			for _, src := range words[:len(words)-1] {
				copyFromContext(t, where, ignore, src, filepath.Join(tmp, dst), dstIsDir)
			}
		case "RUN":
			cmd := in.args
			for strings.HasPrefix(cmd, "--") { // --mount=…, --network=…
				_, cmd, _ = strings.Cut(cmd, " ")
				cmd = strings.TrimSpace(cmd)
			}
			for _, part := range strings.Split(cmd, "&&") {
				words := shellWords(t, where, strings.TrimSpace(part), vars)
				if len(words) == 0 || words[0] != "go" {
					continue // shell steps (the SERVICE check, mkdir) need no Go
				}
				for i, w := range words {
					if path.IsAbs(w) { // -o /out/service: inside the replay's root
						words[i] = filepath.Join(tmp, w)
						if i > 0 && words[i-1] == "-o" {
							outputs = append(outputs, words[i])
						}
					}
				}
				goSteps++
				runGo(t, where, filepath.Join(tmp, workdir), env, words[1:])
			}
		}
	}
	if !seenBuild {
		t.Fatal("deploy/Dockerfile: no stage named build")
	}
	if goSteps < 3 {
		t.Fatalf("deploy/Dockerfile: found %d go commands in the build stage, want the download and the two builds", goSteps)
	}
	for _, o := range outputs {
		if st, err := os.Stat(o); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("build output %s: missing or not executable (%v)", strings.TrimPrefix(o, tmp), err)
		}
	}
}

// runGo runs one go command as the golang image would: no go env file, the
// toolchain in the image, and only the environment the Dockerfile sets for
// the variables that change what the go command does with the files.
func runGo(t *testing.T, where, dir string, env map[string]string, args []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOWORK", "GOFLAGS", "GOENV", "GOTOOLCHAIN", "CGO_ENABLED", "GO111MODULE", "GOOS", "GOARCH", "PWD":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "GOENV=off", "GOTOOLCHAIN=local", "PWD="+dir)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: go %s (in %s): %v\n%s", where, strings.Join(args, " "), dir, err, out)
	}
}

// copyFromContext copies src (a file, a directory's contents or a glob, as
// COPY does) from the repository into dst, leaving out what .dockerignore
// keeps out of the build context.
func copyFromContext(t *testing.T, where string, ignore []ignorePattern, src, dst string, dstIsDir bool) {
	t.Helper()
	matches, err := filepath.Glob(repoPath(path.Clean(src)))
	if err != nil {
		t.Fatalf("%s %s: %v", where, src, err)
	}
	copied := 0
	for _, m := range matches {
		rel, err := filepath.Rel(root, m)
		if err != nil {
			t.Fatal(err)
		}
		rel = filepath.ToSlash(rel)
		st, err := os.Stat(m)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() {
			if ignored(ignore, rel) {
				continue
			}
			target := dst
			if dstIsDir || len(matches) > 1 {
				target = filepath.Join(dst, filepath.Base(m))
			}
			copyFile(t, m, target)
			copied++
			continue
		}
		err = filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			r, _ := filepath.Rel(root, p)
			if ignored(ignore, filepath.ToSlash(r)) {
				return nil
			}
			inner, _ := filepath.Rel(m, p)
			copyFile(t, p, filepath.Join(dst, inner))
			copied++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if copied == 0 {
		t.Fatalf("%s %s: not in the build context (missing, or left out by .dockerignore)", where, src)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ignorePattern is one .dockerignore line: a pattern, or its exception (!).
type ignorePattern struct {
	re      *regexp.Regexp
	include bool
}

// readDockerignore reads .dockerignore with Docker's rules: patterns match
// the cleaned path or any of its parent directories, ** any number of
// directories, and the last matching line wins.
func readDockerignore(t *testing.T) []ignorePattern {
	t.Helper()
	b, err := os.ReadFile(repoPath(".dockerignore"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []ignorePattern
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.include, line = true, rest
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case c == '*':
				re.WriteString("[^/]*")
			case c == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		p.re = regexp.MustCompile(re.String())
		out = append(out, p)
	}
	return out
}

// ignored reports whether .dockerignore keeps the file rel out of the context.
func ignored(patterns []ignorePattern, rel string) bool {
	out := false
	for _, p := range patterns {
		for prefix := rel; ; {
			if p.re.MatchString(prefix) {
				out = !p.include
				break
			}
			i := strings.LastIndex(prefix, "/")
			if i < 0 {
				break
			}
			prefix = prefix[:i]
		}
	}
	return out
}

// parseEnv reads ENV's KEY=value pairs (or the old "ENV KEY value" form).
func parseEnv(t *testing.T, where, args string, vars map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	words := shellWords(t, where, args, vars)
	if len(words) > 0 && !strings.Contains(words[0], "=") {
		out[words[0]] = strings.Join(words[1:], " ")
		return out
	}
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=value", where, w)
		}
		out[k] = v
	}
	return out
}

var varRef = regexp.MustCompile(`\$\{(\w+)(:-[^}]*)?\}|\$(\w+)`)

// expand replaces $NAME and ${NAME} (and ${NAME:-default}) with their values.
func expand(s string, vars map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		name := m[1] + m[3]
		if v := vars[name]; v != "" || m[2] == "" {
			return v
		}
		return strings.TrimPrefix(m[2], ":-")
	})
}

// shellWords splits a command line as sh would for the simple commands a
// Dockerfile runs: double quotes (with expansion), single quotes (without),
// and variables expanded outside quotes.
func shellWords(t *testing.T, where, s string, vars map[string]string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case '\'', '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				t.Fatalf("%s: unbalanced %c in %q", where, c, s)
			}
			quoted := s[i+1 : i+1+j]
			if c == '"' {
				quoted = expand(quoted, vars)
			}
			cur.WriteString(quoted)
			inWord = true
			i += j + 1
		default:
			j := strings.IndexAny(s[i:], " \t'\"")
			if j < 0 {
				j = len(s) - i
			}
			cur.WriteString(expand(s[i:i+j], vars))
			inWord = true
			i += j - 1
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
