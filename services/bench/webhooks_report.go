package main

import (
	"fmt"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotutil"
)

// webhooksMarkdown writes the webhooks scenario's sections.
func (r *report) webhooksMarkdown(w io.Writer) {
	s := r.webhooks
	if s == nil {
		return
	}
	fmt.Fprintf(w, "## Webhooks: one endpoint per application, the receiver on loopback\n\n")
	fmt.Fprintf(w, "The services ran with `%s` and the writer's delivery defaults (`WEBHOOK_CONCURRENCY` 16 deliveries in flight per process, "+
		"one consumer per queue partition taking one job at a time, `WEBHOOK_TIMEOUT` 5 s). "+
		"%d applications have one endpoint each, for every event type; %d others have none; each has %d chats for the closed-loop phases, "+
		"and those with an endpoint %d more for the delivery phase. "+
		"The receiver runs in the load generator's process (net/http on 127.0.0.1, so on the same cores): it verifies every delivery with "+
		"`client.ParseWebhook` (a failure is answered 400 and counted), answers 204, deduplicates by delivery id and notes when each "+
		"`message.created` of the delivery phase's chats first arrives. "+
		"The writer runs in every phase, persisting, and delivering where there is something to deliver; each phase starts once the system is idle "+
		"(every accepted create persisted, the hooks lane empty, writer and api quiet), which took %.1f s after the setup.%s\n\n",
		webhookSettingsText(), s.endpoints, r.cfg.apps, r.cfg.chats, r.cfg.chats, s.setupIdle.Seconds(), warmUpText(s.warmUp))
	r.webhooksSummary(w)
	r.webhooksThroughput(w)
	r.webhooksDelivery(w)
	r.webhooksReceiver(w)
}

// warmUpText describes the warm-up before the measured phases.
func warmUpText(p *phase) string {
	if p == nil || len(p.stats) == 0 {
		return ""
	}
	return fmt.Sprintf(" The measured phases follow a warm-up, not counted: a closed loop without webhooks for %.0f s (%.0f creates/s), "+
		"since the first phase of a fresh api ran far slower than the same phase later in a trial run.", p.rec.last.Sub(p.rec.first).Seconds(), p.throughput())
}

// webhooksSummary writes the figures issue 14 asks the benchmark for, at the
// top of the report.
func (r *report) webhooksSummary(w io.Writer) {
	s := r.webhooks
	fmt.Fprintln(w, "### Summary: issue 14, \"The benchmark reports create throughput and delivery latency with webhooks on\"")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The issue sets no numeric target for these two: the figures are what this shared 2-core machine did (its load over each phase is in the tables below).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| figure | measured |\n|---|---|")
	fmt.Fprintf(w, "| **create throughput with webhooks on vs off** (closed loop, %d clients, %v each) | %.0f /s vs %.0f /s = **%.0f %%**",
		r.cfg.closedClients, r.cfg.closedDuration, s.with.throughput(), s.without.throughput(), 100*ratioOf(s.with, s.without))
	if s.again != nil && s.again.throughput() > 0 {
		mean := (s.without.throughput() + s.again.throughput()) / 2
		fmt.Fprintf(w, "; the no-webhooks phase repeated after it: %.0f /s, so against the mean of the two around it (%.0f /s): **%.0f %%**",
			s.again.throughput(), mean, 100*s.with.throughput()/mean)
	}
	fmt.Fprintln(w, " |")
	if d, ok := s.deliveryStats(); ok {
		fmt.Fprintf(w, "| **delivery latency with webhooks on** (create's 201 at the load generator → the receiver), %.0f creates/s for %v | p50 %s ms, p90 %s ms, p99 %s ms, p99.9 %s ms, max %s ms |\n",
			r.cfg.rate, r.cfg.duration, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.P999), ms(d.Max))
	}
	if d, ok := s.acceptedStats(); ok {
		fmt.Fprintf(w, "| the same from the api accepting the create (the event's accepted_at, same clock) → the receiver | p50 %s ms, p90 %s ms, p99 %s ms, p99.9 %s ms, max %s ms |\n",
			ms(d.P50), ms(d.P90), ms(d.P99), ms(d.P999), ms(d.Max))
	}
	t := s.tally
	fmt.Fprintf(w, "| deliveries of the delivery phase: expected (one per create answered 201), received, lost, duplicated | %d, %d, **%d lost**, %d duplicated (same delivery id again: allowed, at least once) |\n",
		t.expected, t.received, t.lost, t.dups)
	fmt.Fprintf(w, "| bad signatures over the run (must be 0) | %d %s |\n", s.totals.badSigs, verdict(s.totals.badSigs == 0))
	fmt.Fprintf(w, "| hooks lane at the end (once the writer settled the last delivery, at most %v after it arrived) | %s |\n", hooksSettle, s.laneEnd.text())
	if win, ok := s.windows[phaseName(s.with)]; ok && win.drain > 0 && win.drained > 0 {
		fmt.Fprintf(w, "| the writer delivering flat out: the lane the webhooks-on phase left, drained while it persisted that phase's creates | %.0f deliveries in %.1f s = %.0f /s |\n",
			win.drained, win.drain.Seconds(), win.drained/win.drain.Seconds())
	}
	if api, writer, ok := r.cpuPerCreate(s.delivery); ok {
		fmt.Fprintf(w, "| CPU per create over the delivery phase and its tail (/proc) | writer %.0f µs (persisting and delivering), api %.0f µs |\n", writer, api)
	}
	if row := r.cpuOnOff(); row != "" {
		fmt.Fprintf(w, "| CPU per create, closed loop until idle (persisting, delivering, indexing included): webhooks on vs off (the mean of the no-webhooks phases) | %s |\n", row)
	}
	fmt.Fprintln(w)
}

// text is the lane's depth as the report shows it.
func (d laneDepth) text() string {
	if d.err != nil {
		return "unknown: " + d.err.Error()
	}
	return fmt.Sprintf("%d pending, %d in flight, %d to retry, %d dead", d.pending, d.processing, d.retry, d.dead)
}

// deliveryStats is the latency row of the events that arrived (those that
// arrived before the load generator read their 201 are in it at 0).
func (s *webhooksResult) deliveryStats() (endpointStats, bool) {
	if s.latency == nil {
		return endpointStats{}, false
	}
	return statsOf(s.latency.stats(), "delivery")
}

// acceptedStats is the latency row from the api's acceptance to arrival.
func (s *webhooksResult) acceptedStats() (endpointStats, bool) {
	if s.latency == nil {
		return endpointStats{}, false
	}
	return statsOf(s.latency.stats(), "accepted")
}

// cpuPerCreate is the api's and the writer's CPU µs per create over phase p.
func (r *report) cpuPerCreate(p *phase) (api, writer float64, ok bool) {
	if p == nil {
		return 0, 0, false
	}
	for _, c := range r.cpu {
		if (c.name == p.name+", until idle" || c.name == p.name+" and its tail") && c.units > 0 {
			return c.cpu["api"] / float64(c.units) * 1e6, c.cpu["writer"] / float64(c.units) * 1e6, true
		}
	}
	return 0, 0, false
}

// cpuOf is process proc's CPU µs per create over phase p and until idle.
func (r *report) cpuOf(p *phase, proc string) (float64, bool) {
	if p == nil {
		return 0, false
	}
	for _, c := range r.cpu {
		if c.name == p.name+", until idle" && c.units > 0 {
			return c.cpu[proc] / float64(c.units) * 1e6, true
		}
	}
	return 0, false
}

// cpuOnOff compares each process's CPU per create with webhooks on and off
// (the mean of the phases without): what a delivery costs where.
func (r *report) cpuOnOff() string {
	s := r.webhooks
	var parts []string
	for _, proc := range []struct{ name, label string }{{"writer", "writer"}, {"redis", "Redis"}, {"bench", "load generator and receiver"}, {"api", "api"}, {"mariadb", "MariaDB"}} {
		on, ok := r.cpuOf(s.with, proc.name)
		if !ok {
			continue
		}
		var offs []float64
		for _, p := range []*phase{s.without, s.again} {
			if v, ok := r.cpuOf(p, proc.name); ok {
				offs = append(offs, v)
			}
		}
		if len(offs) == 0 {
			continue
		}
		off := 0.0
		for _, v := range offs {
			off += v / float64(len(offs))
		}
		parts = append(parts, fmt.Sprintf("%s %.0f vs %.0f µs (%+.0f)", proc.label, on, off, on-off))
	}
	return strings.Join(parts, "; ")
}

// webhooksThroughput writes the closed-loop phases, what the writer
// delivered in each, and the ratio.
func (r *report) webhooksThroughput(w io.Writer) {
	s := r.webhooks
	fmt.Fprintf(w, "### Create throughput (closed loop: %d clients, each sending its next create when its last is answered, %v, to %d chats)\n\n",
		r.cfg.closedClients, r.cfg.closedDuration, r.cfg.apps*r.cfg.chats)
	fmt.Fprintln(w, "| phase | creates/s (201) | p50 ms | p99 ms | errors | deliveries during the phase | hooks lane at its end | until idle | deliveries in that drain | machine (CPU pressure: share of the time some task waited for a CPU; 1-min load at the end) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---:|---:|---:|---:|---|")
	for _, p := range []*phase{s.without, s.with, s.again} {
		if p == nil || len(p.stats) == 0 {
			continue
		}
		st, win := p.stats[0], s.windows[p.name]
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %.0f | %d | %.1f s | %.0f | %s |\n", p.name, p.throughput(), ms(st.P50), ms(st.P99),
			errorsText(st.Statuses), win.delivered, win.lane.queued(), win.drain.Seconds(), win.drained, s.contention[p.name])
	}
	fmt.Fprintf(w, "\nWith webhooks on / off: **%.2f**", ratioOf(s.with, s.without))
	if s.again != nil {
		fmt.Fprintf(w, "; the repeated no-webhooks phase / the first: %.2f, the drift between identical phases on this shared machine", ratioOf(s.again, s.without))
	}
	fmt.Fprintln(w, ".")
	if win, ok := s.windows[phaseName(s.with)]; ok && win.drain > 0 {
		total := win.delivered + win.drained
		fmt.Fprintf(w, "\nWith webhooks on, the api queued one delivery per create in the same Redis step as the event; the writer delivered %.0f "+
			"during the phase (%.0f /s) and %.0f more in the %.1f s until the system was idle (%.0f /s, persisting the phase's creates beside), "+
			"%.0f in all for %d creates. A closed loop offers creates as fast as the api takes them, faster than the writer delivers, "+
			"so the lane grows during the phase: the throughput with webhooks on is the api's while the writer delivers flat out beside it.\n",
			win.delivered, win.delivered/r.cfg.closedDuration.Seconds(), win.drained, win.drain.Seconds(), win.drained/win.drain.Seconds(),
			total, okCount(s.with.stats, "create"))
	}
	fmt.Fprintln(w)
}

// phaseName is p's name, "" for none.
func phaseName(p *phase) string {
	if p == nil {
		return ""
	}
	return p.name
}

// webhooksDelivery writes the delivery phase: the creates, the latency from
// 201 to arrival, what arrived and the writer's view.
func (r *report) webhooksDelivery(w io.Writer) {
	s := r.webhooks
	if s.delivery == nil {
		return
	}
	fmt.Fprintf(w, "### Delivery: %.0f creates/s for %v (open loop) over %d chats of the %d applications with an endpoint\n\n", r.cfg.rate, r.cfg.duration, s.timedChats, s.endpoints)
	fmt.Fprintf(w, "Machine over the phase: %s.", s.contention[s.delivery.name])
	if d := min(r.cfg.profile, r.cfg.duration/2); d > 0 {
		fmt.Fprintf(w, " CPU profiles of the api, the writer and the load generator ran from %.0f s to %.0f s into the phase (their excerpts were made after it).",
			(r.cfg.duration / 4).Seconds(), (r.cfg.duration/4 + d).Seconds())
	}
	fmt.Fprint(w, "\n\n")
	writeLatencyTable(w, s.delivery.stats)
	fmt.Fprintln(w, "\nDelivery latency to the receiver getting the POST (its first arrival, one sample per event), from the create's 201 reaching the load generator, "+
		"and from the api accepting the create (the event's accepted_at, microseconds, the same machine's clock): the second leaves out the api's answer "+
		"and the load generator reading it, which on these shared cores can come after the delivery:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| from | events | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|")
	negative := int64(0)
	if d, ok := s.deliveryStats(); ok {
		fmt.Fprintf(w, "| the create's 201 | %d | %s | %s | %s | %s | %s |\n", d.Count, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.P999), ms(d.Max))
		negative = d.Statuses[0]
	}
	if d, ok := s.acceptedStats(); ok {
		fmt.Fprintf(w, "| the api's acceptance | %d | %s | %s | %s | %s | %s |\n", d.Count, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.P999), ms(d.Max))
	}
	t := s.tally
	fmt.Fprintln(w, "\n| the delivery phase's deliveries | count |\n|---|---:|")
	for _, row := range []struct {
		name string
		v    int64
	}{
		{"expected (one per create answered 201)", t.expected},
		{"received", t.received},
		{"**lost** (not arrived when the run stopped waiting)", t.lost},
		{"**duplicated** (a delivery id that had arrived before)", t.dups},
		{"arrived before the load generator read the 201 (latency counted as 0)", negative},
		{"arrived of a create whose 201 never came (not timed)", t.unanswered},
	} {
		fmt.Fprintf(w, "| %s | %d |\n", row.name, row.v)
	}
	fmt.Fprintf(w, "\nThe last event arrived %.2f s after the load ended (the run waits at most %v). Hooks lane once the writer settled it: %s.\n",
		s.tail.Seconds(), hooksTailTimeout, s.laneEnd.text())
	r.webhooksWriterView(w)
}

// webhooksWriterView writes the writer's webhook metrics over the delivery
// phase and its tail.
func (r *report) webhooksWriterView(w io.Writer) {
	d := r.webhooks.deliveryDiff
	if d == nil {
		return
	}
	fmt.Fprintln(w, "\nThe writer's view over the delivery phase and its tail (its /metrics, diffed):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| writer figure | value |\n|---|---:|")
	outcomes := d.byLabel("instachat_webhook_deliveries_total", "outcome")
	for _, k := range sortedKeys(outcomes) {
		fmt.Fprintf(w, "| instachat_webhook_deliveries_total, outcome %s | %.0f |\n", k, outcomes[k])
	}
	bs := d.histogram("instachat_webhook_delivery_seconds")
	for _, q := range []float64{0.5, 0.99} {
		if v, ok := quantile(q, bs); ok {
			fmt.Fprintf(w, "| instachat_webhook_delivery_seconds p%.0f (the POST, until the answer was read; interpolated in its bucket) | %.1f ms |\n", q*100, v*1000)
		}
	}
	fmt.Fprintf(w, "| instachat_webhook_retries_total | %.0f |\n", d.sum("instachat_webhook_retries_total"))
	fmt.Fprintf(w, "| instachat_webhook_endpoints_paused_total | %.0f |\n", d.sum("instachat_webhook_endpoints_paused_total"))
}

// webhooksReceiver writes everything the receiver got over the run.
func (r *report) webhooksReceiver(w io.Writer) {
	t := r.webhooks.totals
	fmt.Fprintln(w, "\n### The receiver over the whole run (setup, every phase and drain)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| receiver figure | count |\n|---|---:|")
	fmt.Fprintf(w, "| POSTs | %d |\n", t.requests)
	fmt.Fprintf(w, "| distinct deliveries that verified | %d |\n", t.deliveries)
	for _, k := range sortedKeys(t.byType) {
		fmt.Fprintf(w, "| of which %s | %d |\n", k, t.byType[k])
	}
	fmt.Fprintf(w, "| first seen on a later attempt (X-InstaChat-Attempt > 1) | %d |\n", t.retried)
	fmt.Fprintf(w, "| duplicated (a delivery id again) | %d |\n", t.dups)
	fmt.Fprintf(w, "| **bad signatures** | %d |\n", t.badSigs)
	fmt.Fprintln(w)
}

// webhooksChart plots the delivery latency's p50 and p99 per second of the
// delivery phase.
func (r *report) webhooksChart() (*plot.Plot, error) {
	p := newChart("webhook delivery latency per second (to the receiver, from the 201 or the acceptance)", "seconds into the delivery phase", "latency (ms)")
	p50, p99 := r.webhooks.latency.quantileSeries("delivery")
	a50, a99 := r.webhooks.latency.quantileSeries("accepted")
	if err := plotutil.AddLines(p, "p50 from 201", xy(p50), "p99 from 201", xy(p99), "p50 from accepted", xy(a50), "p99 from accepted", xy(a99)); err != nil {
		return nil, err
	}
	return p, nil
}
