package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/instachat/instachat/client"
	"github.com/instachat/instachat/client/clienttest"
)

// The examples run against clienttest's in-memory fake; point client.New at
// a real api (http://localhost:8080 under make run) to do the same for real.

func Example() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()

	c, err := client.New(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	created, err := c.CreateApplication(ctx, "Support desk")
	if err != nil {
		log.Fatal(err)
	}
	app := c.App(created.Token) // keep the token: it is the application's only name
	chat, err := app.CreateChat(ctx)
	if err != nil {
		log.Fatal(err)
	}
	msg, err := app.PostMessage(ctx, chat.Number, "Hello, world")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("chat", chat.Number, chat.Status)
	fmt.Println("message", msg.Number, msg.Body)
	// Output:
	// chat 1 pending
	// message 1 Hello, world
}

func ExampleWithIdempotencyKey() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(srv.URL)
	created, _ := c.CreateApplication(ctx, "Support desk")
	app := c.App(created.Token)
	chat, _ := app.CreateChat(ctx)

	// A write whose outcome is unknown (ErrOutcomeUnknown) is retried with
	// the key it was sent with: the server answers as it did the first time.
	key := client.NewIdempotencyKey()
	var first, again client.Response
	m1, _ := app.PostMessage(ctx, chat.Number, "sent twice", client.WithIdempotencyKey(key), client.WithResponse(&first))
	m2, _ := app.PostMessage(ctx, chat.Number, "sent twice", client.WithIdempotencyKey(key), client.WithResponse(&again))
	fmt.Println(m1.Number, first.Replayed)
	fmt.Println(m2.Number, again.Replayed)

	// The same key for a different request is refused.
	_, err := app.PostMessage(ctx, chat.Number, "something else", client.WithIdempotencyKey(key))
	fmt.Println(errors.Is(err, client.ErrKeyReused), client.StatusOf(err))
	// Output:
	// 1 false
	// 1 true
	// true 422
}

func ExampleApp_History() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(srv.URL)
	created, _ := c.CreateApplication(ctx, "Support desk")
	app := c.App(created.Token)
	chat, _ := app.CreateChat(ctx)
	for i := 1; i <= 5; i++ {
		_, _ = app.PostMessage(ctx, chat.Number, fmt.Sprintf("message %d", i))
	}

	// Newest first, two a page; History follows the cursors.
	for m, err := range app.History(ctx, chat.Number, client.Newest().WithLimit(2)) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Number, m.Body)
	}
	// Output:
	// 5 message 5
	// 4 message 4
	// 3 message 3
	// 2 message 2
	// 1 message 1
}

func ExampleApp_Messages() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(srv.URL)
	created, _ := c.CreateApplication(ctx, "Support desk")
	app := c.App(created.Token)
	chat, _ := app.CreateChat(ctx)
	for i := 1; i <= 5; i++ {
		_, _ = app.PostMessage(ctx, chat.Number, fmt.Sprintf("message %d", i))
	}

	// One page at a time, oldest first: Next is where the following page
	// starts, Previous where the page before this one ends.
	page, err := app.Messages(ctx, chat.Number, client.Oldest().WithLimit(3))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range page.Messages {
		fmt.Println(m.Number)
	}
	fmt.Printf("more: %v, next: %+v\n", page.HasMore, *page.Next)
	page, _ = app.Messages(ctx, chat.Number, *page.Next)
	for _, m := range page.Messages {
		fmt.Println(m.Number)
	}
	fmt.Println("more:", page.HasMore)
	// Output:
	// 1
	// 2
	// 3
	// more: true, next: {Forward:true Number:3 Limit:3}
	// 4
	// 5
	// more: false
}

func ExampleError() {
	srv := clienttest.NewServer()
	defer srv.Close()
	c, _ := client.New(srv.URL)

	_, err := c.App("no-such-token").Get(context.Background())
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.StatusCode, e.Message)
	}
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// 404 application not found
	// true
}

func ExampleApp_SearchAll() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(srv.URL)
	created, _ := c.CreateApplication(ctx, "Support desk")
	app := c.App(created.Token)
	chat, _ := app.CreateChat(ctx)
	for _, body := range []string{"Hello, world", "help!", "goodbye"} {
		_, _ = app.PostMessage(ctx, chat.Number, body)
	}

	// Each word matches the beginnings of words: "hel" finds both.
	for m, err := range app.SearchAll(ctx, chat.Number, "hel") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(m.Body)
	}
	// Unordered output:
	// Hello, world
	// help!
}

func ExampleApp_Subscribe() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, _ := client.New(srv.URL)
	created, _ := c.CreateApplication(ctx, "Support desk")
	app := c.App(created.Token)
	chat, _ := app.CreateChat(ctx)
	_, _ = app.PostMessage(ctx, chat.Number, "Hello")

	// Load the chat, then follow it from where the load left off: the
	// page's Position.
	shown := map[int64]string{}
	load := func() (client.Position, error) {
		page, err := app.Messages(ctx, chat.Number, client.Newest().WithLimit(client.MaxLimit))
		clear(shown)
		for _, m := range page.Messages {
			shown[m.Number] = m.Body
		}
		return page.Position, err
	}
	from, err := load()
	if err != nil {
		log.Fatal(err)
	}

	// Changes after the load (made here before subscribing, so the
	// subscription's replay shows them).
	_, _ = app.PostMessage(ctx, chat.Number, "How can I help?")
	_, _ = app.UpdateMessage(ctx, chat.Number, 1, "Hello!")
	_, _ = app.DeleteMessage(ctx, chat.Number, 2)

	for ev, err := range app.Subscribe(ctx, chat.Number, from) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %d %q\n", ev.Type, ev.Message, ev.Body)
		switch ev.Type {
		case client.EventReset:
			// Some events could not be served: reload and keep consuming
			// (events that the reload already shows apply again harmlessly).
			if _, err := load(); err != nil {
				log.Fatal(err)
			}
		case client.EventMessageCreated, client.EventMessageUpdated:
			shown[ev.Message] = ev.Body
		case client.EventMessageDeleted:
			delete(shown, ev.Message)
		}
		if ev.Type == client.EventMessageDeleted {
			break // an example has to end; a chat window would stay
		}
	}
	fmt.Println(shown)
	// Output:
	// message.created 2 "How can I help?"
	// message.updated 1 "Hello!"
	// message.deleted 2 ""
	// map[1:Hello!]
}

func ExampleApp_PatchSettings() {
	srv := clienttest.NewServer()
	defer srv.Close()
	ctx := context.Background()
	c, _ := client.New(srv.URL)
	created, _ := c.CreateApplication(ctx, "Support desk")
	app := c.App(created.Token)

	// Read, change, and write conditional on the version read: a change
	// someone made meanwhile is not overwritten, the write fails ErrStale.
	s, err := app.Settings(ctx)
	if err != nil {
		log.Fatal(err)
	}
	hooks := append(s.WebhookInputs(), client.WebhookInput{ // keep the others, add one
		URL:    "https://hooks.example.com/instachat",
		Events: []string{client.EventMessageCreated, client.EventMessageUpdated},
	})
	s, err = app.PatchSettings(ctx, client.SettingsInput{
		MaxBodyBytes: client.Set(2000),
		Webhooks:     client.Set(hooks),
	}, client.IfVersion(s.Version))
	if err != nil {
		log.Fatal(err)
	}
	hook := s.Webhooks[len(s.Webhooks)-1]
	// Keep hook.Secret now, where the receiver reads it: it is never shown again.
	fmt.Println(s.Version, s.MaxBodyBytes, strings.HasPrefix(hook.Secret, "whsec_"))

	// Null puts a field back to the server's default; version 0 is stale.
	_, err = app.PatchSettings(ctx, client.SettingsInput{MaxBodyBytes: client.Null[int]()}, client.IfVersion(0))
	fmt.Println(errors.Is(err, client.ErrStale), client.StatusOf(err))
	// Output:
	// 1 2000 true
	// true 412
}

func ExampleParseWebhook() {
	// The endpoint's secret; during a rotation's overlap, hold the new one
	// and the old one: either verifies.
	secrets := []string{"whsec_Tq9xv0mEXAMPLEexampleEXAMPLEexampleEXAMPL"}

	var mu sync.Mutex
	handled := map[string]bool{} // in production: a table with a unique key
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, d, err := client.ParseWebhook(r, secrets)
		if err != nil {
			// Forged, altered, replayed or not ours: refuse, do nothing.
			http.Error(w, "invalid delivery", http.StatusBadRequest)
			return
		}
		mu.Lock()
		again := handled[d.ID] // deliveries are at least once
		handled[d.ID] = true
		mu.Unlock()
		if !again {
			fmt.Printf("%s: chat %d, message %d: %q\n", ev.Type, ev.Chat, ev.Message, ev.Body)
		}
		w.WriteHeader(http.StatusNoContent) // any 2xx: delivered
	})

	// A delivery as InstaChat makes it, sent twice, then a forgery.
	body := []byte(`{"id":"1-42","type":"message.created","chat":1,"message":7,"body":"Hello","accepted_at":"2026-11-28T12:00:00.123456Z"}`)
	deliver := func(signature string) int {
		req := httptest.NewRequest(http.MethodPost, "/hooks/instachat", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(client.HeaderWebhookSignature, signature)
		req.Header.Set(client.HeaderWebhookDelivery, "dlv_01")
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		return rec.Code
	}
	signature := client.SignWebhook(secrets, time.Now(), body)
	fmt.Println(deliver(signature))
	fmt.Println(deliver(signature))
	fmt.Println(deliver(client.SignWebhook([]string{"whsec_guessed"}, time.Now(), body)))
	// Output:
	// message.created: chat 1, message 7: "Hello"
	// 204
	// 204
	// 400
}
