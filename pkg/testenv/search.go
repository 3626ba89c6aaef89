package testenv

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// IsZinc reports whether the Elasticsearch-compatible server at raw (a URL,
// credentials allowed) is ZincSearch, which CI runs in place of
// Elasticsearch; tests adapt to what it lacks, never the engine code.
func IsZinc(t testing.TB, raw string) bool {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("search server url: %v", err)
	}
	req, err := http.NewRequest(http.MethodGet, raw+"/", nil)
	if err != nil {
		t.Fatalf("search server url: %v", err)
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		req.SetBasicAuth(u.User.Username(), pass)
		u.User = nil
		req.URL, _ = url.Parse(u.String() + "/")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("reach search server %s: %v", u.Host, err)
	}
	defer resp.Body.Close()
	var info struct {
		Name string `json:"name"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&info)
	return info.Name == "zinc"
}
