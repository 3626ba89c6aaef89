package chat

// Limits of the two ways to page a list. Page mode (page, per_page) keeps old
// clients working; cursor mode (before, after, limit) is the one that stays
// fast at any depth. They are documented in README.md and the Swagger spec.
const (
	// MaxListOffset is the deepest page mode reaches: (page-1)·per_page may
	// not exceed it. Deeper pages cost an OFFSET that reads and drops every
	// item before them; cursors do not.
	MaxListOffset = 10000
	// DefaultLimit is a cursor page's size when the client does not ask for one.
	DefaultLimit = 50
	// MaxLimit is the largest cursor page a client may ask for.
	MaxLimit = 100
)

// CheckListOffset refuses a page that starts deeper than MaxListOffset, with
// a message that names the cursor parameters to use instead. Search has its
// own window (search.MaxWindow) and does not use it.
func (p Page) CheckListOffset() error {
	if p.Offset() > MaxListOffset {
		return Invalidf("page × per_page reaches past item %d; page deeper with before= or after= and limit= (each answer carries the next cursor)", MaxListOffset)
	}
	return nil
}

// Order is the direction of a cursor page.
type Order int

const (
	// NewestFirst lists items numbered below the bound, highest first.
	NewestFirst Order = iota
	// OldestFirst lists items numbered above the bound, lowest first.
	OldestFirst
)

// List selects one cursor (keyset) page: up to Limit items beyond Bound in
// Order. Bound is exclusive: NewestFirst with Bound 7 lists 6, 5, 4…;
// OldestFirst with Bound 7 lists 8, 9, 10…, and with Bound 0 starts at the
// oldest. NewestFirst with Bound 0 starts at the newest.
type List struct {
	Order Order
	Bound int64
	Limit int
}

// Newest is the first page of a walk toward older items.
func Newest(limit int) List { return List{Order: NewestFirst, Limit: limit} }

// Before lists the items numbered below n, newest first.
func Before(n int64, limit int) List { return List{Order: NewestFirst, Bound: n, Limit: limit} }

// After lists the items numbered above n, oldest first.
func After(n int64, limit int) List { return List{Order: OldestFirst, Bound: n, Limit: limit} }

// IsNewest reports whether l starts at the newest item.
func (l List) IsNewest() bool { return l.Order == NewestFirst && l.Bound == 0 }

// Check applies the default limit and checks the limit and bound.
func (l List) Check() (List, error) {
	if l.Limit == 0 {
		l.Limit = DefaultLimit
	}
	if l.Limit < 1 || l.Limit > MaxLimit {
		return List{}, Invalidf("limit must be between 1 and %d", MaxLimit)
	}
	if l.Bound < 0 {
		return List{}, Invalidf("before and after must not be negative")
	}
	return l, nil
}

// Cursors says where the pages next to a cursor page are.
type Cursors struct {
	// HasMore reports whether the next page in the same order has items that
	// can be read now. It is false at either end of the list, and at the live
	// edge when a number still being written holds back the ones after it.
	HasMore bool
	// Next continues in the same order; set only when HasMore.
	Next *List
	// Previous turns back from the page's first item; nil for an empty page.
	Previous *List
}

// CursorsOf returns the cursors of a page of l whose item numbers, in page
// order, are numbers.
func CursorsOf(l List, numbers []int64, hasMore bool) Cursors {
	c := Cursors{HasMore: hasMore}
	if len(numbers) == 0 {
		return c
	}
	first, last := numbers[0], numbers[len(numbers)-1]
	if l.Order == OldestFirst {
		if hasMore {
			next := After(last, l.Limit)
			c.Next = &next
		}
		prev := Before(first, l.Limit)
		c.Previous = &prev
		return c
	}
	if hasMore {
		next := Before(last, l.Limit)
		c.Next = &next
	}
	prev := After(first, l.Limit)
	c.Previous = &prev
	return c
}
