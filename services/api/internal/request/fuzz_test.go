package request

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets of the request decoders: the JSON pre-pass alone, and the
// whole decoding of application and message requests. Their seed corpora are
// in testdata/fuzz/<target>/; `make fuzz` runs each for FUZZTIME.

// fuzzSeeds are shared by the targets: well-formed requests, and the hostile
// inputs of issue 10.
var fuzzSeeds = []string{
	`{"name": "Support desk"}`,
	`{"application": {"name": "Support desk"}}`,
	`{"body": "Hello, world"}`,
	`{"message": {"body": "Help"}}`,
	`{"message": {"text": "Help"}}`,
	`{"name":"a","NAME":"b"}`,
	`{"body":"a","body":"b"}`,
	`{"message":{"body":"a","Body":"b"}}`,
	`{"message":{"body":"a"},"\u212a":1,"k":2}`,
	"{\"body\": \"bad \xff byte\"}",
	`{"body": "x\ud800y"}`,
	`{"body": "\ud83d\ude00"}`,
	`{"body": "\u200b"}`,
	`{"body": "x"} {}`,
	`[{"a":[{"a":{"b":1,"B":2}}]}]`,
	`null`,
}

func FuzzCheck(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := Check(data)
		if again := Check(data); (err == nil) != (again == nil) || err != nil && err.Error() != again.Error() {
			t.Fatalf("Check(%q): got %v, then %v", data, err, again)
		}
		if !utf8.Valid(data) && err == nil {
			t.Fatalf("Check(%q): accepted invalid UTF-8", data)
		}
		if err != nil || !json.Valid(data) {
			return
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("json.Unmarshal(%q) of valid JSON: %v", data, err)
		}
		checkDecoded(t, data, v)
		// What passed once passes again after a round trip.
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(again); err != nil {
			t.Fatalf("Check(%q) accepted %q but refused its re-encoding %q: %v", data, data, again, err)
		}
	})
}

// checkDecoded checks what an accepted body decodes to: no object holds two
// keys that encoding/json would match to one field, and no string got a
// replacement character that the body did not spell out.
func checkDecoded(t *testing.T, data []byte, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k1 := range v {
			for k2 := range v {
				if k1 != k2 && strings.EqualFold(k1, k2) {
					t.Fatalf("Check(%q) accepted keys %q and %q in one object", data, k1, k2)
				}
			}
			checkString(t, data, k1)
			checkDecoded(t, data, v[k1])
		}
	case []any:
		for _, e := range v {
			checkDecoded(t, data, e)
		}
	case string:
		checkString(t, data, v)
	}
}

func checkString(t *testing.T, data []byte, s string) {
	t.Helper()
	if strings.ContainsRune(s, utf8.RuneError) && !bytes.Contains(data, []byte("\uFFFD")) &&
		!bytes.Contains(bytes.ToLower(data), []byte(`\ufffd`)) {
		t.Fatalf("Check(%q) accepted a body that decodes to a replacement character: %q", data, s)
	}
}

func FuzzDecodeApplication(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req Application
		fuzzDecode(t, data, &req, func(v any) (string, bool) {
			return fieldOf(v, "name", "application", "name")
		}, func() (string, bool) { return req.NameGiven() })
	})
}

func FuzzDecodeMessage(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req Message
		fuzzDecode(t, data, &req, func(v any) (string, bool) {
			if s, ok := fieldOf(v, "body", "message", "body"); ok {
				return s, true
			}
			return fieldOf(v, "", "message", "text")
		}, func() (string, bool) { return req.BodyGiven() })
	})
}

// fuzzDecode checks decodeRequest on data into req (a pointer to a request):
// a refusal is a 400 with a message, the same one every time; an acceptance
// is valid UTF-8 JSON whose field, read by got, is what a plain decode into
// maps finds under the one key that matches it as encoding/json matches
// keys, like strings.EqualFold (want), and survives a round trip through json.Marshal.
func fuzzDecode(t *testing.T, data []byte, req any, want func(v any) (string, bool), got func() (string, bool)) {
	rerr := Decode(data, req)
	if rerr != nil {
		if rerr.Status != http.StatusBadRequest || rerr.Msg == "" {
			t.Fatalf("Decode(%q): got %d %q, want 400 with a message", data, rerr.Status, rerr.Msg)
		}
		fresh := reflect.New(reflect.TypeOf(req).Elem()).Interface()
		if again := Decode(data, fresh); again == nil || *again != *rerr {
			t.Fatalf("Decode(%q): refused with %q, then %v", data, rerr.Msg, again)
		}
		return
	}
	if !utf8.Valid(data) || !json.Valid(data) {
		t.Fatalf("Decode(%q): accepted invalid UTF-8 or JSON", data)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("json.Unmarshal(%q): %v", data, err)
	}
	g, gok := got()
	w, wok := want(v)
	if g != w || gok != wok {
		t.Fatalf("Decode(%q): got %q (%v), want %q (%v) as a map decode finds it", data, g, gok, w, wok)
	}
	if gok && !utf8.ValidString(g) {
		t.Fatalf("Decode(%q): got invalid UTF-8 %q", data, g)
	}
	enc, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if rerr := Decode(enc, req); rerr != nil {
		t.Fatalf("Decode(%q) accepted it, but refused its re-encoding %s: %s", data, enc, rerr.Msg)
	}
	if g2, ok2 := got(); g2 != g || ok2 != gok {
		t.Fatalf("Decode(%q): got %q, after a round trip %q", data, g, g2)
	}
}

// fieldOf reads a request's string field from a map decode as the request
// types do: the flat key first (none when flat is ""), then key inner of the
// wrapper object outer. Keys match as encoding/json matches them: like
// strings.EqualFold.
func fieldOf(v any, flat, outer, inner string) (string, bool) {
	m, _ := v.(map[string]any)
	if flat != "" {
		if s, ok := lookupFold(m, flat).(string); ok {
			return s, true
		}
	}
	w, _ := lookupFold(m, outer).(map[string]any)
	s, ok := lookupFold(w, inner).(string)
	return s, ok
}

func lookupFold(m map[string]any, key string) any {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}
