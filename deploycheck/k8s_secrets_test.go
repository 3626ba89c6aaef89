package deploycheck

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/instachat/instachat/pkg/config"
)

// operatorFiles are files a kustomization names that the operator writes and
// git must never hold: the build fails until they exist.
var operatorFiles = map[string]bool{"deploy/k8s/base/secrets.env": true}

// secretKeyNames are the keys of instachat-secrets, what the containers
// take from it.
var secretKeyNames = []string{"ADMIN_TOKEN", "INTERNAL_TOKEN", "MYSQL_DSN", "REDIS_PASSWORD"}

// testSecretsEnv stands in for the operator's secrets.env in the builds.
const testSecretsEnv = `INTERNAL_TOKEN=7d5f2a8e4c6b0d9f1a3e5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2d8f406a1e9c3b
ADMIN_TOKEN=0d9f1a3e5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2d8f406a1e9c3b7d5f2a8e4c6b
MYSQL_DSN=instachat:e5c7b9d2f4a6c8e0b1d3f3f9a1c7e5b2@tcp(mysql:3306)/instachat
REDIS_PASSWORD=c8e0b1d3f3f9a1c7e5b2d8f406a1e9c3
`

// k8sFS copies deploy/k8s into memory, without any secrets.env an operator
// keeps in the checkout, and with testSecretsEnv as that file when withSecrets.
func k8sFS(t *testing.T, withSecrets bool) filesys.FileSystem {
	t.Helper()
	mem := filesys.MakeFsInMemory()
	err := filepath.WalkDir(repoPath(k8sDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if operatorFiles[rel] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return mem.WriteFile("/"+rel, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if withSecrets {
		for f := range operatorFiles {
			if err := mem.WriteFile("/"+f, []byte(testSecretsEnv)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return mem
}

// checkGitIgnored fails unless the .gitignore beside an operator file names it.
func checkGitIgnored(t *testing.T, p string) {
	t.Helper()
	ignore := path.Join(path.Dir(p), ".gitignore")
	b, err := os.ReadFile(repoPath(ignore))
	if err != nil || !slices.Contains(strings.Split(string(b), "\n"), path.Base(p)) {
		t.Errorf("%s must be git-ignored: %s should list %s (%v)", p, ignore, path.Base(p), err)
	}
}

// TestKubernetesSecretsMustBeProvided checks that no build succeeds without
// the operator's secrets.env, so the Secret can never hold a value from git.
func TestKubernetesSecretsMustBeProvided(t *testing.T) {
	for _, dir := range []string{k8sDir + "/base", k8sDir + "/overlays/example"} {
		_, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(k8sFS(t, false), "/"+dir)
		if err == nil || !strings.Contains(err.Error(), "secrets.env") {
			t.Errorf("kustomize build %s without secrets.env: got %v, want an error naming secrets.env", dir, err)
		}
	}
	for f := range operatorFiles {
		checkGitIgnored(t, f)
	}
}

// checkGeneratedSecret checks that instachat-secrets comes from the
// operator's file (generated, name with a content hash so pods roll when it
// changes) and holds exactly the keys the containers take.
func checkGeneratedSecret(t *testing.T, dir string, m manifests) {
	t.Helper()
	var s *corev1.Secret
	for name, sec := range m.secrets {
		if strings.HasPrefix(name, "instachat-secrets-") {
			s = sec
		}
	}
	if s == nil {
		t.Fatalf("%s: no generated Secret instachat-secrets-<hash> (got %v)", dir, sortedKeys(m.secrets))
	}
	keys := secretKeys(s)
	slices.Sort(keys)
	if !slices.Equal(keys, secretKeyNames) {
		t.Errorf("%s: Secret %s has keys %v, want %v (those of secrets.env)", dir, s.Name, keys, secretKeyNames)
	}
	for _, k := range []string{"INTERNAL_TOKEN", "ADMIN_TOKEN"} {
		v := string(s.Data[k])
		if !strings.Contains(testSecretsEnv, k+"="+v+"\n") || config.Placeholder(v) {
			t.Errorf("%s: Secret %s %s is not the value of secrets.env", dir, s.Name, k)
		}
	}
}
