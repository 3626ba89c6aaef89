package main

import (
	"fmt"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotutil"
)

// The targets of issue 13 the subscribe report is read against.
const (
	targetSubscribers   = 10000
	targetRSS           = 400 << 20 // bytes, the api with targetSubscribers connected
	targetDeliveryP99   = 0.100     // seconds, 201 → receipt
	targetDeliveryRate  = 1000      // creates/s
	targetDeliveryChats = 1000
	targetRatio         = 0.80 // create throughput with idle subscribers / without
)

// subscribeMarkdown writes the subscribe scenario's sections.
func (r *report) subscribeMarkdown(w io.Writer) {
	s := r.subscribe
	if s == nil {
		return
	}
	fmt.Fprintf(w, "## Live events: %d SSE subscribers over %d chats\n\n", r.cfg.subscribers, r.cfg.subChats)
	fmt.Fprintf(w, "The api ran with `%s` (the defaults refuse beyond 20,000 streams a process and 2,000 an application). "+
		"Open files: load generator %s (Go raises its soft limit to the hard one), api %s. "+
		"Subscribers are raw SSE GETs (net/http writes the request and reads the response, a %d-byte reader for the connection and a %d-byte one for lines, "+
		"one goroutine each), %d per chat, connected %.0f a second; the followed chats are in applications of %d chats. "+
		"Each subscriber notes the arrival of every `message.created` (the number scanned from the data line, no JSON decoding) "+
		"and checks the numbers arrive +1 each. The writer is stopped once the chats are made, so the measured phases are the api alone "+
		"(with Redis and the load generator): the events are fanned out from Redis, and a writer persisting and an api indexing on the same "+
		"2 cores made identical phases drift by a third in a trial run.\n\n",
		strings.Join(s.settings, " "), s.nofileBench, s.nofileAPI, subConnBuffer, subLineBuffer,
		r.cfg.subscribers/r.cfg.subChats, connectRate, subChatsPerApp)
	r.subscribeTargets(w)
	r.subscribeMemory(w)
	r.subscribeThroughput(w)
	r.subscribeDelivery(w)
}

// verdict is ✓ when ok, else ✗.
func verdict(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

// subscribeTargets writes the targets next to what was measured.
func (r *report) subscribeTargets(w io.Writer) {
	s := r.subscribe
	fmt.Fprintln(w, "### Targets\n\n| target | measured | met |\n|---|---|:-:|")
	atSize := r.cfg.subscribers >= targetSubscribers
	size := ""
	if !atSize {
		size = fmt.Sprintf(" (this run: %d subscribers, below the target's %d)", r.cfg.subscribers, targetSubscribers)
	}
	fmt.Fprintf(w, "| %d concurrent subscribers on one api, RSS ≤ %d MB%s | %d connected, api RSS %.0f MB | %s |\n",
		targetSubscribers, targetRSS>>20, size, s.connected, float64(s.memAfter.rss)/(1<<20),
		verdict(atSize && s.connected >= targetSubscribers && s.memAfter.rss <= targetRSS))
	if d, ok := s.deliveryStats(); ok {
		atLoad := r.cfg.rate >= targetDeliveryRate && r.cfg.subChats >= targetDeliveryChats && atSize
		fmt.Fprintf(w, "| delivery p99 (201 → receipt) ≤ %.0f ms at %d creates/s over %d chats, the subscribers connected | p50 %s ms, p99 %s ms | %s |\n",
			targetDeliveryP99*1000, targetDeliveryRate, targetDeliveryChats, ms(d.P50), ms(d.P99),
			verdict(atLoad && d.P99.Seconds() <= targetDeliveryP99))
	}
	t := s.tally
	fmt.Fprintf(w, "| events lost = 0 and duplicated = 0 | lost %d, duplicated %d (of %d expected) | %s |\n",
		t.lost, t.dups, t.expected, verdict(t.lost == 0 && t.dups == 0 && t.expected > 0))
	ratio := ratioOf(s.with, s.without)
	fmt.Fprintf(w, "| create throughput with idle subscribers ≥ %.0f %% of without | %.0f /s vs %.0f /s = **%.0f %%** | %s |\n\n",
		targetRatio*100, s.with.throughput(), s.without.throughput(), ratio*100, verdict(ratio >= targetRatio))
}

// ratioOf is a's throughput over b's (0 when b has none).
func ratioOf(a, b *phase) float64 {
	if b.throughput() == 0 {
		return 0
	}
	return a.throughput() / b.throughput()
}

// deliveryStats is the latency row of the events that arrived.
func (s *subscribeResult) deliveryStats() (endpointStats, bool) {
	if s.latency == nil {
		return endpointStats{}, false
	}
	return statsOf(s.latency.stats(), "delivery")
}

// subscribeMemory writes the api's memory and goroutines before and after
// the subscribers connected.
func (r *report) subscribeMemory(w io.Writer) {
	s := r.subscribe
	fmt.Fprintf(w, "### Connecting\n\n%d of %d subscribers connected (ready event read) in %.1f s", s.connected, r.cfg.subscribers, s.connect.Seconds())
	if len(s.refused) > 0 {
		var parts []string
		for _, k := range sortedKeys(s.refused) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, s.refused[k]))
		}
		fmt.Fprintf(w, "; not connected: %s", strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, ". The load generator then ran %d goroutines. The api, measured before connecting and %v after the last connected "+
		"(RSS from /proc, the rest from its /metrics):\n\n", s.benchGoroutines, settleDelay)
	n := float64(max(s.connected, 1))
	fmt.Fprintln(w, "| api figure | before | after | per subscriber |\n|---|---:|---:|---:|")
	mib := func(v float64) string { return fmt.Sprintf("%.1f MiB", v/(1<<20)) }
	kib := func(v float64) string { return fmt.Sprintf("%.1f KiB", v/1024) }
	b, a := s.memBefore, s.memAfter
	fmt.Fprintf(w, "| RSS | %s | %s | **%s** |\n", mib(float64(b.rss)), mib(float64(a.rss)), kib(float64(a.rss-b.rss)/n))
	fmt.Fprintf(w, "| Go heap in use | %s | %s | %s |\n", mib(b.heapInuse), mib(a.heapInuse), kib((a.heapInuse-b.heapInuse)/n))
	fmt.Fprintf(w, "| goroutine stacks in use | %s | %s | %s |\n", mib(b.stackInuse), mib(a.stackInuse), kib((a.stackInuse-b.stackInuse)/n))
	fmt.Fprintf(w, "| goroutines | %.0f | %.0f | %.2f |\n", b.goroutines, a.goroutines, (a.goroutines-b.goroutines)/n)
	fmt.Fprintf(w, "| instachat_event_subscribers | %.0f | %.0f | |\n\n", b.subscribers, a.subscribers)
	fmt.Fprintln(w, "RSS before is after the first closed-loop phase, so it holds heap that phase grew and the runtime kept; "+
		"the heap and stack rows are what the subscribers themselves hold.")
	fmt.Fprintln(w)
}

// subscribeThroughput writes the closed-loop phases and the ratio.
func (r *report) subscribeThroughput(w io.Writer) {
	s := r.subscribe
	fmt.Fprintf(w, "### Create throughput (closed loop: %d clients, each sending its next create when the last is answered, %v, to %d chats nobody follows)\n\n",
		closedClients, closedDuration, r.cfg.apps*r.cfg.chats)
	fmt.Fprintln(w, "| phase | creates/s (201) | p50 ms | p99 ms | errors | machine (CPU pressure: share of the time some task waited for a CPU; 1-min load at the end) |\n|---|---:|---:|---:|---|---|")
	for _, p := range []*phase{s.without, s.with, s.afterward} {
		if p == nil || len(p.stats) == 0 {
			continue
		}
		st := p.stats[0]
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s |\n", p.name, p.throughput(), ms(st.P50), ms(st.P99), errorsText(st.Statuses), s.contention[p.name])
	}
	fmt.Fprintf(w, "\nWith idle subscribers / without: **%.2f**", ratioOf(s.with, s.without))
	if s.afterward != nil {
		fmt.Fprintf(w, "; the last phase (subscribers gone) / the first: %.2f, the drift between identical phases on this shared machine", ratioOf(s.afterward, s.without))
	}
	fmt.Fprintln(w, ". The writer was stopped for every measured phase (the jobs queued in Redis): these are the api's create path alone, "+
		"as the ramp's create-path figure, and each phase started once the api was idle.")
	fmt.Fprintln(w)
}

// subscribeDelivery writes the delivery phase: the creates, the latency
// from 201 to receipt, what arrived and the api's own view.
func (r *report) subscribeDelivery(w io.Writer) {
	s := r.subscribe
	if s.delivery == nil {
		return
	}
	fmt.Fprintf(w, "### Delivery: %.0f creates/s over the %d followed chats for %v (open loop), %d subscribers connected\n\n", r.cfg.rate, r.cfg.subChats, r.cfg.duration, s.connected)
	fmt.Fprintf(w, "Machine over the phase: %s.\n\n", s.contention[s.delivery.name])
	writeLatencyTable(w, s.delivery.stats)
	fmt.Fprintln(w, "\nEvent latency, from the create's 201 reaching the load generator to a subscriber reading the event (one sample per subscriber and event):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| events | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---:|---:|---:|---:|---:|---:|")
	if d, ok := s.deliveryStats(); ok {
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", d.Count, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.P999), ms(d.Max))
	}
	t := s.tally
	negative := int64(0)
	if d, ok := s.deliveryStats(); ok {
		negative = d.Statuses[0]
	}
	unanswered := int64(0)
	if u, ok := statsOf(s.latency.stats(), "unanswered"); ok {
		unanswered = u.Count
	}
	fmt.Fprintln(w, "\n| what the subscribers received | count |\n|---|---:|")
	for _, row := range []struct {
		name string
		v    int64
	}{
		{"expected (each subscriber: every number of its chat, 1 to the highest created)", t.expected},
		{"received", t.received},
		{"**lost**", t.lost},
		{"**duplicated**", t.dups},
		{"arrived after a gap (a number skipped, filled or lost)", t.outOfOrder},
		{"read before the harness saw the 201 (latency counted as 0)", negative},
		{"from a create whose 201 never came (not timed)", unanswered},
		{"overflow (slow consumer) events", t.overflows},
		{"reset events", t.resets},
		{"streams that ended before the harness closed them", t.endedEarly},
	} {
		fmt.Fprintf(w, "| %s | %d |\n", row.name, row.v)
	}
	fmt.Fprintf(w, "\nThe last subscriber had its chat's last number %.2f s after the load ended.\n", s.tail.Seconds())
	r.subscribeAPIView(w)
}

// subscribeAPIView writes the api's live-event metrics over the delivery phase.
func (r *report) subscribeAPIView(w io.Writer) {
	d := r.subscribe.deliveryDiff
	if d == nil {
		return
	}
	fmt.Fprintln(w, "\nThe api's view over the delivery phase (its /metrics, diffed):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| api figure | value |\n|---|---:|")
	fmt.Fprintf(w, "| instachat_events_delivered_total | %.0f |\n", d.sum("instachat_events_delivered_total"))
	bs := d.histogram("instachat_event_delivery_seconds")
	for _, q := range []float64{0.5, 0.99} {
		if v, ok := quantile(q, bs); ok {
			fmt.Fprintf(w, "| instachat_event_delivery_seconds p%.0f (accepted → flushed, interpolated in its bucket) | %.1f ms |\n", q*100, v*1000)
		}
	}
	drops := d.byLabel("instachat_event_drops_total", "reason")
	for _, k := range sortedKeys(drops) {
		fmt.Fprintf(w, "| drops, reason %s | %.0f |\n", k, drops[k])
	}
}

// subscribeChart plots the delivery latency's p50 and p99 per second of the
// delivery phase.
func (r *report) subscribeChart() (*plot.Plot, error) {
	p := newChart("event delivery latency (201 → subscriber) per second", "seconds into the delivery phase", "latency (ms)")
	p50, p99 := r.subscribe.latency.quantileSeries("delivery")
	if err := plotutil.AddLines(p, "p50", xy(p50), "p99", xy(p99)); err != nil {
		return nil, err
	}
	return p, nil
}

// quantileSeries returns, per second of the run, name's p50 and p99 in ms.
func (r *recorder) quantileSeries(name string) (p50, p99 []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, h := range r.perSec[name] {
		p50 = append(p50, float64(h.ValueAtQuantile(50))/1000)
		p99 = append(p99, float64(h.ValueAtQuantile(99))/1000)
	}
	return p50, p99
}
