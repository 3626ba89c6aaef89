package clienttest

import (
	"net/http"
	"time"
)

// The answers' shapes, as the api's Swagger spec names them.
type (
	applicationJSON struct {
		Token      string    `json:"token"`
		Name       string    `json:"name"`
		ChatsCount int64     `json:"chats_count"`
		CreatedAt  time.Time `json:"created_at"`
		UpdatedAt  time.Time `json:"updated_at"`
	}
	chatJSON struct {
		Number        int64      `json:"number"`
		MessagesCount int64      `json:"messages_count"`
		Status        string     `json:"status"`
		CreatedAt     *time.Time `json:"created_at,omitempty"`
		UpdatedAt     *time.Time `json:"updated_at,omitempty"`
	}
	messageJSON struct {
		ChatNumber int64      `json:"chat_number"`
		Number     int64      `json:"number"`
		Body       *string    `json:"body,omitempty"`
		Status     string     `json:"status"`
		CreatedAt  *time.Time `json:"created_at,omitempty"`
		UpdatedAt  *time.Time `json:"updated_at,omitempty"`
	}
	deleteJSON struct {
		Number int64  `json:"number"`
		Status string `json:"status"`
	}
)

func (a *app) json() applicationJSON {
	return applicationJSON{Token: a.token, Name: a.name, ChatsCount: a.liveChats(), CreatedAt: a.created, UpdatedAt: a.updated}
}

func (a *app) liveChats() int64 {
	var n int64
	for _, c := range a.chats {
		if !c.deleted {
			n++
		}
	}
	return n
}

func (c *chat) liveMessages() int64 {
	var n int64
	for _, m := range c.messages {
		if !m.deleted {
			n++
		}
	}
	return n
}

func (c *chat) json() chatJSON {
	return chatJSON{Number: c.number, MessagesCount: c.liveMessages(), Status: "persisted", CreatedAt: &c.created, UpdatedAt: &c.updated}
}

func (m *message) json(chat int64) messageJSON {
	return messageJSON{ChatNumber: chat, Number: m.number, Body: &m.body, Status: "persisted", CreatedAt: &m.created, UpdatedAt: &m.updated}
}

func health(*fake, request) reply {
	return ok(http.StatusOK, map[string]string{"status": "ok", "version": "clienttest"})
}

func ready(*fake, request) reply {
	return ok(http.StatusOK, map[string]string{"status": "ok", "version": "clienttest", "mysql": "ok", "redis": "ok", "search": "ok"})
}

func createApp(f *fake, r request) reply {
	a := &app{token: newToken(), name: r.payload, created: r.now, updated: r.now, chats: map[int64]*chat{}, keys: map[string]record{}}
	f.apps[a.token] = a
	return ok(http.StatusCreated, a.json())
}

// lookup finds the application, the chat and the message a path names, as
// far as it names them; a reply is the 400 or 404 to answer instead.
func (f *fake) lookup(r request) (*app, *chat, *message, *reply) {
	a := f.apps[r.PathValue("token")]
	if a == nil {
		rep := fail(http.StatusNotFound, "application not found")
		return nil, nil, nil, &rep
	}
	if r.PathValue("chat") == "" {
		return a, nil, nil, nil
	}
	n, bad := number(r, "chat")
	if bad != nil {
		return nil, nil, nil, bad
	}
	c := a.chats[n]
	if c == nil || c.deleted {
		rep := fail(http.StatusNotFound, "chat not found")
		return nil, nil, nil, &rep
	}
	if r.PathValue("message") == "" {
		return a, c, nil, nil
	}
	if n, bad = number(r, "message"); bad != nil {
		return nil, nil, nil, bad
	}
	m := c.messages[n]
	if m == nil || m.deleted {
		rep := fail(http.StatusNotFound, "message not found")
		return nil, nil, nil, &rep
	}
	return a, c, m, nil
}

func getApp(f *fake, r request) reply {
	a, _, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	return ok(http.StatusOK, a.json())
}

func renameApp(f *fake, r request) reply {
	a, _, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	a.name, a.updated = r.payload, r.now
	return ok(http.StatusOK, a.json())
}

func createChat(f *fake, r request) reply {
	a, _, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	a.nextChat++
	c := &chat{number: a.nextChat, created: r.now, updated: r.now, messages: map[int64]*message{}}
	a.chats[c.number] = c
	f.emit(a, "chat.created", c.number, 0, nil, r.now)
	return ok(http.StatusCreated, chatJSON{Number: c.number, Status: "pending", CreatedAt: &r.now, UpdatedAt: &r.now})
}

func getChat(f *fake, r request) reply {
	_, c, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	return f.positioned(ok(http.StatusOK, c.json()))
}

func deleteChat(f *fake, r request) reply {
	a, c, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	c.deleted = true
	c.deletedSeq = f.emit(a, "chat.deleted", c.number, 0, nil, r.now)
	return ok(http.StatusAccepted, deleteJSON{Number: c.number, Status: "deleting"})
}

func postMessage(f *fake, r request) reply {
	a, c, _, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	if bad := a.checkBody(r.payload); bad != nil {
		return *bad
	}
	c.nextMessage++
	m := &message{number: c.nextMessage, body: r.payload, created: r.now, updated: r.now}
	c.messages[m.number] = m
	f.emit(a, "message.created", c.number, m.number, &r.payload, r.now)
	return ok(http.StatusCreated, messageJSON{ChatNumber: c.number, Number: m.number, Body: &m.body, Status: "pending", CreatedAt: &r.now, UpdatedAt: &r.now})
}

// checkBody applies the application's own body limit (its settings'
// max_body_bytes); decodePayload applied the server's.
func (a *app) checkBody(body string) *reply {
	if limit := a.settings.bodyLimit(); len(body) > limit {
		rep := fail(http.StatusBadRequest, "body must be at most %d bytes", limit)
		return &rep
	}
	return nil
}

func getMessage(f *fake, r request) reply {
	_, c, m, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	return ok(http.StatusOK, m.json(c.number))
}

func updateMessage(f *fake, r request) reply {
	a, c, m, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	if bad := a.checkBody(r.payload); bad != nil {
		return *bad
	}
	m.body, m.updated = r.payload, r.now
	f.emit(a, "message.updated", c.number, m.number, &r.payload, r.now)
	body := m.body
	return ok(http.StatusOK, messageJSON{ChatNumber: c.number, Number: m.number, Body: &body, Status: "pending", UpdatedAt: &r.now})
}

func deleteMessage(f *fake, r request) reply {
	a, c, m, bad := f.lookup(r)
	if bad != nil {
		return *bad
	}
	m.deleted = true
	f.emit(a, "message.deleted", c.number, m.number, nil, r.now)
	return ok(http.StatusAccepted, deleteJSON{Number: m.number, Status: "deleting"})
}
