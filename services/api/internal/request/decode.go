package request

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Error is a refused request body: the HTTP status to answer (400 or 413)
// and a message for the client.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// Decode decodes data, a whole client request body, into v after Check has
// accepted it. It returns nil when data is one acceptable JSON object.
func Decode(data []byte, v any) *Error {
	if err := Check(data); err != nil {
		return &Error{Status: http.StatusBadRequest, Msg: err.Error()}
	}
	return DecodeStream(bytes.NewReader(data), v, int64(len(data)))
}

// DecodeStream decodes exactly one JSON object from r into v as it streams
// in, without Check: for trusted bodies too large to hold twice. limit is the
// size r enforces (an http.MaxBytesReader), named in the 413 message.
func DecodeStream(r io.Reader, v any, limit int64) *Error {
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return &Error{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body must be at most %d bytes", limit)}
		case errors.Is(err, io.EOF):
			return &Error{http.StatusBadRequest, "request body must be a JSON object"}
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return &Error{http.StatusBadRequest, "request body must be a JSON object"}
		case errors.As(err, &typeErr):
			return &Error{http.StatusBadRequest, fmt.Sprintf("field %q must be a %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))}
		default:
			return &Error{http.StatusBadRequest, "malformed JSON: " + err.Error()}
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{http.StatusBadRequest, "malformed JSON: unexpected data after the object"}
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "ptr", "string":
		return "string"
	case "struct", "map":
		return "JSON object"
	}
	return goKind
}
