// Package request decodes the JSON bodies clients send to the api, strictly:
// one JSON object of valid UTF-8 whose keys encoding/json cannot confuse
// (Check), decoded into the request shapes the api accepts (Application,
// Message). It knows nothing of HTTP frameworks, so the decoders can be
// tested and fuzzed on their own.
package request

// Application is accepted flat or wrapped as Rails clients send it:
// {"name": "x"} or {"application": {"name": "x"}}.
type Application struct {
	Name        *string `json:"name" example:"Support desk"`
	Application *struct {
		Name *string `json:"name"`
	} `json:"application,omitempty"`
}

// NameGiven returns the name, flat or wrapped, and whether one was given.
func (r Application) NameGiven() (string, bool) {
	if r.Name != nil {
		return *r.Name, true
	}
	if r.Application != nil && r.Application.Name != nil {
		return *r.Application.Name, true
	}
	return "", false
}

// Message is accepted flat or wrapped: {"body": "x"},
// {"message": {"body": "x"}} or {"message": {"text": "x"}}.
type Message struct {
	Body    *string `json:"body" example:"Hello, world"`
	Message *struct {
		Body *string `json:"body"`
		Text *string `json:"text"`
	} `json:"message,omitempty"`
}

// BodyGiven returns the body (flat first, then wrapped body, then wrapped
// text) and whether one was given.
func (r Message) BodyGiven() (string, bool) {
	switch {
	case r.Body != nil:
		return *r.Body, true
	case r.Message != nil && r.Message.Body != nil:
		return *r.Message.Body, true
	case r.Message != nil && r.Message.Text != nil:
		return *r.Message.Text, true
	}
	return "", false
}
