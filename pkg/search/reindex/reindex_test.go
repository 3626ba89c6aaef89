package reindex_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/instachat/instachat/pkg/search"
	"github.com/instachat/instachat/pkg/search/reindex"
)

// TestWireFormat pins the JSON both sides speak: what the writer encodes is
// exactly these bytes, and the api decodes them back to the same request.
func TestWireFormat(t *testing.T) {
	tests := []struct {
		name string
		req  reindex.Request
		json string
	}{
		{"empty call", reindex.Request{}, `{}`},
		{"documents only", reindex.Request{Docs: []reindex.Doc{{AppID: 1, Chat: 2, Number: 3, Body: "hi", Version: 4, Trace: "t1", Accepted: 1700000000000000}}},
			`{"docs":[{"app_id":1,"chat":2,"number":3,"body":"hi","version":4,"trace":"t1","accepted":1700000000000000}]}`},
		{"no trace or accept time", reindex.Request{Docs: []reindex.Doc{{AppID: 1, Chat: 2, Number: 3, Body: "", Version: 1}}},
			`{"docs":[{"app_id":1,"chat":2,"number":3,"body":"","version":1}]}`},
		{"deletes only", reindex.Request{Deleted: []reindex.Key{{AppID: 1, Chat: 2, Number: 5}}},
			`{"deleted":[{"app_id":1,"chat":2,"number":5}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.req) // the writer's side
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("encode: got %s, want %s", b, tt.json)
			}
			var got reindex.Request // the api's side
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.req) {
				t.Errorf("decode: got %+v, want %+v", got, tt.req)
			}
		})
	}
}

func TestIndexDropsTransportFields(t *testing.T) {
	req := reindex.Request{
		Docs:    []reindex.Doc{{AppID: 1, Chat: 2, Number: 3, Body: "hi", Version: 4, Trace: "t1", Accepted: 99}},
		Deleted: []reindex.Key{{AppID: 1, Chat: 2, Number: 5}},
	}
	docs, keys := req.Index()
	wantDocs := []search.Doc{{AppID: 1, Chat: 2, Number: 3, Body: "hi", Version: 4}}
	wantKeys := []search.Key{{AppID: 1, Chat: 2, Number: 5}}
	if !reflect.DeepEqual(docs, wantDocs) || !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("Index: got %+v, %+v; want %+v, %+v", docs, keys, wantDocs, wantKeys)
	}
}
