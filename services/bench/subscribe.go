package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	ic "github.com/instachat/instachat/client"
)

// The subscribe scenario (issue 13) measures live events: N SSE subscribers
// over M chats on one api process. Phases, each in the report:
//
//  1. create throughput without subscribers (closed loop);
//  2. connect the subscribers (ramped), the api's RSS and goroutines before
//     and after, a heap profile;
//  3. the same closed loop with the subscribers connected and idle (their
//     chats get no traffic);
//  4. delivery: creates at -rate over the subscribed chats, open loop, for
//     -duration; each subscriber times every message.created from the
//     create's 201 to its receipt and checks the numbers arrive +1 each;
//  5. the closed loop once more with the subscribers gone, so drift over
//     the run (a neighbour's load on the shared machine) shows.
//
// The writer is stopped once the chats are made: every measured phase is
// the api alone (with Redis and the load generator), as the ramp's create
// path is. With the writer persisting and the api indexing what it
// persisted on the same 2 cores, identical closed-loop phases drifted from
// 1,700 to 1,100 creates/s in one run as the index fell behind, which
// would swamp what idle subscribers cost; and neither takes part in
// fanning out events, which the api does from Redis alone.

const (
	closedClients     = 64               // clients of the closed-loop throughput phases
	closedDuration    = 30 * time.Second // length of each
	connectRate       = 500.0            // subscribers connected per second
	subChatsPerApp    = 100              // the followed chats' applications hold this many each
	tailTimeout       = 30 * time.Second // wait after the delivery load for the last events
	settleDelay       = 5 * time.Second  // after connecting, before measuring memory
	subscriberLimitUp = 1.2              // EVENTS_MAX_* at this multiple of -subscribers
)

// subscribeSettings raises the api's stream limits above the run's subscribers.
func subscribeSettings(cfg config) []string {
	limit := int(float64(cfg.subscribers)*subscriberLimitUp) + 100
	return []string{"EVENTS_MAX_SUBSCRIBERS=" + strconv.Itoa(limit), "EVENTS_MAX_PER_APP=" + strconv.Itoa(limit)}
}

// subscribeResult is what the subscribe scenario measured.
type subscribeResult struct {
	settings                 []string
	nofileBench, nofileAPI   string
	without, with, afterward *phase // closed-loop creates
	connect                  time.Duration
	connected                int
	refused                  map[string]int // why a subscriber did not connect
	benchGoroutines          int
	memBefore, memAfter      memFigures
	delivery                 *phase    // the open-loop creates
	latency                  *recorder // 201 → receipt, one sample per subscriber and event
	tail                     time.Duration
	tally                    deliveryTally
	deliveryDiff             samples           // the api's /metrics over the delivery phase
	contention               map[string]string // phase → the machine's CPU pressure and load over it
}

// memFigures is the api's memory at one moment: RSS from /proc, the rest
// from its /metrics.
type memFigures struct {
	rss                     int64
	heapInuse, stackInuse   float64
	goroutines, subscribers float64
}

// deliveryTally counts what the subscribers received.
type deliveryTally struct {
	expected, received   int64 // events, summed over subscribers
	lost, dups           int64
	outOfOrder           int64 // arrivals that skipped a number (later filled or lost)
	negative, unanswered int64 // receipt before the 201 was seen; an event whose create got no 201
	overflows, resets    int64
	endedEarly           int64 // streams that ended before the harness closed them
}

// subscribeRun is one run's state.
type subscribeRun struct {
	cfg     config
	sys     *system
	rep     *report
	res     *subscribeResult
	log     io.Writer
	w       *workload
	traffic []*chatRef // chats of the closed-loop phases, never followed
	chats   []*subChat // followed chats
}

func runSubscribe(ctx context.Context, cfg config, sys *system, rep *report, log io.Writer) error {
	r := &subscribeRun{cfg: cfg, sys: sys, rep: rep, log: log, res: &subscribeResult{settings: subscribeSettings(cfg), refused: map[string]int{}, contention: map[string]string{}}}
	rep.subscribe = r.res
	r.res.nofileBench, r.res.nofileAPI = nofileLimits(sys)
	fmt.Fprintf(log, "open files: bench %s; api %s\n", r.res.nofileBench, r.res.nofileAPI)
	if err := r.setup(ctx); err != nil {
		return err
	}
	sys.stop("writer") // its jobs stay queued in Redis; see above
	r.settle(ctx)
	rep.prof.captureAs(ctx, sys, "api", "api-cpu-no-subscribers", fmt.Sprintf("CPU, %v, closed-loop creates without subscribers", min(cfg.profile, closedDuration/2)),
		closedDuration/4, min(cfg.profile, closedDuration/2), rep.profileDir, rep.base(), log)
	r.res.without = r.closedLoop(ctx, "creates, no subscribers")
	rep.prof.wait()
	r.settle(ctx)

	r.res.memBefore = r.memory(ctx)
	set := r.connect(ctx)
	defer set.close()
	time.Sleep(settleDelay)
	r.res.memAfter = r.memory(ctx)
	r.res.benchGoroutines = runtime.NumGoroutine()
	rep.prof.heap(ctx, sys, "api", "api-heap-subscribed", fmt.Sprintf("heap in use after a GC, %d subscribers connected", r.res.connected), rep.profileDir, rep.base(), log)

	rep.prof.captureAs(ctx, sys, "api", "api-cpu-idle-subscribers", fmt.Sprintf("CPU, %v, closed-loop creates with %d idle subscribers", min(cfg.profile, closedDuration/2), r.res.connected),
		closedDuration/4, min(cfg.profile, closedDuration/2), rep.profileDir, rep.base(), log)
	r.res.with = r.closedLoop(ctx, fmt.Sprintf("creates, %d idle subscribers", r.res.connected))
	rep.prof.wait()
	r.settle(ctx)

	if err := r.deliver(ctx, set); err != nil {
		return err
	}
	set.close()
	r.res.tally = set.tally()
	r.res.latency = set.latencies(r.res.delivery.rec.start)
	r.settle(ctx)
	r.res.afterward = r.closedLoop(ctx, "creates, subscribers gone")
	return ctx.Err()
}

// setup creates the closed-loop chats (-apps × -chats) and the followed
// ones (-sub-chats, in applications of subChatsPerApp).
func (r *subscribeRun) setup(ctx context.Context) error {
	var err error
	if r.w, err = newWorkload(r.sys.apiURL, r.cfg.maxInFlight, 1); err != nil {
		return err
	}
	if err := r.w.setup(ctx, r.cfg.apps, r.cfg.chats); err != nil {
		return err
	}
	r.traffic = r.w.chats
	apps := (r.cfg.subChats + subChatsPerApp - 1) / subChatsPerApp
	followed, err := newWorkload(r.sys.apiURL, r.cfg.maxInFlight, 2)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.log, "creating %d chats in %d applications to follow\n", r.cfg.subChats, apps)
	if err := followed.setup(ctx, apps, (r.cfg.subChats+apps-1)/apps); err != nil {
		return err
	}
	for _, c := range followed.chats[:r.cfg.subChats] {
		r.chats = append(r.chats, &subChat{ref: c})
	}
	return nil
}

// settle waits until the api is idle (its GC and its last responses done),
// so each phase starts from a quiet process.
func (r *subscribeRun) settle(ctx context.Context) {
	r.sys.waitQuiet(ctx, "api", 2*time.Minute)
}

// closedLoop sends creates to the closed-loop chats from closedClients
// clients, each as soon as its last was answered, for closedDuration.
func (r *subscribeRun) closedLoop(ctx context.Context, label string) *phase {
	rec := newRecorder()
	cpu0 := cpuWithBench(r.sys)
	defer r.contended(label)()
	withProgress(ctx, r.log, label, rec, 0, func() {
		runClosedLoop(ctx, closedClients, closedDuration, rec, func(ctx context.Context, i int) int {
			return r.w.create(ctx, r.traffic[i%len(r.traffic)])
		})
	})
	p := &phase{name: label, rec: rec, stats: rec.stats()}
	created := okCount(p.stats, "create")
	r.rep.cpu = append(r.rep.cpu, phaseCPU{name: label, units: created, unit: "create", cpu: cpuWithBench(r.sys).minus(cpu0)})
	return p
}

// throughput is a closed-loop phase's creates answered 201 per second.
func (p *phase) throughput() float64 {
	if p == nil || len(p.stats) == 0 {
		return 0
	}
	span := p.rec.last.Sub(p.rec.first).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(p.stats[0].Statuses[201]) / span
}

// memory reads the api's RSS and its runtime's figures.
func (r *subscribeRun) memory(ctx context.Context) memFigures {
	m := memFigures{rss: readRSS(fmt.Sprintf("/proc/%d/status", r.sys.pid("api")))}
	s, err := scrape(ctx, r.sys.apiURL)
	if err != nil {
		fmt.Fprintf(r.log, "scrape api: %v\n", err)
		return m
	}
	m.heapInuse, m.stackInuse = s.sum("go_memstats_heap_inuse_bytes"), s.sum("go_memstats_stack_inuse_bytes")
	m.goroutines, m.subscribers = s.sum("go_goroutines"), s.sum("instachat_event_subscribers")
	return m
}

// connect opens -subscribers streams, subscriber i on followed chat i mod
// -sub-chats, connectRate a second, and waits until each is ready or refused.
func (r *subscribeRun) connect(ctx context.Context) *subscriberSet {
	addr := strings.TrimPrefix(r.sys.apiURL, "http://")
	set := &subscriberSet{}
	var ready, failed atomic.Int64
	interval := time.Duration(float64(time.Second) / connectRate)
	start := time.Now()
	line := newStatusLine(r.log)
	for i := 0; i < r.cfg.subscribers && ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		c := r.chats[i%len(r.chats)]
		s := &subscriber{chat: c}
		set.subs = append(set.subs, s)
		path := "/api/v1/applications/" + url.PathEscape(c.ref.token) + "/chats/" + strconv.FormatInt(c.ref.number, 10) + "/events"
		set.wg.Go(func() {
			lines, err := s.dial(ctx, addr, path)
			if err != nil {
				s.err = err
				s.ended.Store(true)
				set.refuse(err)
				failed.Add(1)
				return
			}
			set.add(s)
			ready.Add(1)
			s.follow(lines)
		})
		if i%100 == 0 {
			line.Show("connecting subscribers %6d/%-6d ready %6d refused %d ", i+1, r.cfg.subscribers, ready.Load(), failed.Load())
		}
	}
	for deadline := time.Now().Add(time.Minute); ready.Load()+failed.Load() < int64(len(set.subs)) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
	}
	r.res.connect = time.Since(start)
	line.Show("connected %d subscribers in %.1fs, %d refused ", ready.Load(), r.res.connect.Seconds(), failed.Load())
	line.End()
	r.res.connected = int(ready.Load())
	set.mu.Lock()
	for k, v := range set.refused {
		r.res.refused[k] = v
	}
	set.mu.Unlock()
	return set
}

// deliver runs creates at -rate over the followed chats for -duration, then
// waits until every open stream has the last number of its chat.
func (r *subscribeRun) deliver(ctx context.Context, set *subscriberSet) error {
	before, err := scrape(ctx, r.sys.apiURL)
	if err != nil {
		return err
	}
	cpu0 := cpuWithBench(r.sys)
	d := min(r.cfg.profile, r.cfg.duration/2)
	r.rep.prof.captureAs(ctx, r.sys, "api", "api-cpu-delivery", fmt.Sprintf("CPU, %v, delivery at %.0f creates/s", d, r.cfg.rate), r.cfg.duration/4, d, r.rep.profileDir, r.rep.base(), r.log)
	r.rep.prof.captureSelf(ctx, "bench-cpu-delivery", fmt.Sprintf("CPU of the load generator, %v, delivery", d), r.cfg.duration/4, d, r.rep.profileDir, r.rep.base(), r.log)
	rec := newRecorder()
	label := fmt.Sprintf("delivery %.0f creates/s", r.cfg.rate)
	ended := r.contended(label)
	withProgress(ctx, r.log, label, rec, int(r.cfg.rate*r.cfg.duration.Seconds()), func() {
		runOpenLoop(ctx, schedule{rate: r.cfg.rate, duration: r.cfg.duration, maxInFlight: r.cfg.maxInFlight}, func(i int) (string, op) {
			c := r.chats[i%len(r.chats)]
			return "create", func(ctx context.Context) int { return c.create(ctx, r.w) }
		}, rec)
	})
	ended()
	r.res.delivery = &phase{name: label, rate: r.cfg.rate, rec: rec, stats: rec.stats()}
	created := okCount(r.res.delivery.stats, "create")
	r.res.tail = set.waitCaughtUp(ctx, tailTimeout)
	fmt.Fprintf(r.log, "subscribers caught up %.1fs after the load\n", r.res.tail.Seconds())
	r.rep.cpu = append(r.rep.cpu, phaseCPU{name: label + " and its tail", units: created, unit: "create", cpu: cpuWithBench(r.sys).minus(cpu0)})
	r.rep.prof.wait()
	after, err := scrape(ctx, r.sys.apiURL)
	if err != nil {
		return err
	}
	r.res.deliveryDiff = after.diff(before)
	return nil
}

// create posts one message to c and files its 201.
func (c *subChat) create(ctx context.Context, w *workload) int {
	var resp ic.Response
	m, err := w.load.App(c.ref.token).PostMessage(ctx, c.ref.number, w.body(), ic.WithResponse(&resp))
	at := time.Now()
	if err != nil {
		return statusOf(err, resp.StatusCode)
	}
	c.answered(m.Number, at)
	return resp.StatusCode
}

// subscriberSet is the run's subscribers and their connections.
type subscriberSet struct {
	subs    []*subscriber
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []*subscriber // connected, to close at the end
	refused map[string]int
	closed  bool
}

func (s *subscriberSet) add(sub *subscriber) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		sub.conn.Close()
		return
	}
	s.conns = append(s.conns, sub)
}

// refuse files why a subscriber did not connect.
func (s *subscriberSet) refuse(err error) {
	why := "transport: " + err.Error()
	var st *statusError
	if errors.As(err, &st) {
		why = "status " + strconv.Itoa(st.status)
	} else if errors.Is(err, errNotReady) {
		why = "ended before ready"
	} else if strings.Contains(err.Error(), "too many open files") {
		why = "too many open files"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]int{}
	}
	s.refused[why]++
}

// waitCaughtUp waits until every open stream received as many numbers as
// its chat's highest create answered, or timeout passes.
func (s *subscriberSet) waitCaughtUp(ctx context.Context, timeout time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < timeout && ctx.Err() == nil {
		behind := false
		for _, sub := range s.subs {
			if !sub.ended.Load() && sub.received.Load() < sub.chat.ref.max.Load() {
				behind = true
				break
			}
		}
		if !behind {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// close ends every stream and waits for the subscribers' goroutines.
func (s *subscriberSet) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, sub := range s.subs {
		if sub.ended.Load() { // before the harness closed it: counted in the tally
			sub.endedEarly = true
		}
	}
	for _, sub := range s.conns {
		sub.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// tally counts, after close, what the subscribers received against what
// their chats were sent: every number from 1 to the chat's highest (the
// highest 201, or a higher number a subscriber saw, from a create whose
// answer was lost).
func (s *subscriberSet) tally() deliveryTally {
	var t deliveryTally
	highest := map[*subChat]int64{}
	for _, sub := range s.subs {
		highest[sub.chat] = max(highest[sub.chat], sub.chat.ref.max.Load(), int64(len(sub.recv)))
	}
	for _, sub := range s.subs {
		want := highest[sub.chat]
		t.expected += want
		for n := int64(1); n <= want; n++ {
			if n > int64(len(sub.recv)) || sub.recv[n-1] == 0 {
				t.lost++
			} else {
				t.received++
			}
		}
		t.dups += sub.dups
		t.outOfOrder += sub.outOfOrder
		t.resets += sub.resets
		if sub.overflow {
			t.overflows++
		}
		if sub.endedEarly {
			t.endedEarly++
		}
	}
	return t
}

// latencies is every received event's time from its create's 201 to its
// receipt, filed by the 201's second from start.
func (s *subscriberSet) latencies(start time.Time) *recorder {
	rec := newRecorder()
	rec.begin(start)
	for _, sub := range s.subs {
		c := sub.chat
		for i, at := range sub.recv {
			if at == 0 {
				continue
			}
			if i >= len(c.t201) || c.t201[i] == 0 {
				rec.record("unanswered", start, 0, 0)
				continue
			}
			lat := time.Duration(at - c.t201[i])
			status := 200
			if lat < 0 {
				lat, status = 0, 0 // before the 201 reached the harness: counted apart
			}
			rec.record("delivery", time.Unix(0, c.t201[i]), lat, status)
		}
	}
	return rec
}

// contended starts watching the machine's load; the returned func files it
// under label.
func (r *subscribeRun) contended(label string) func() {
	load := machineLoad()
	return func() { r.res.contention[label] = load() }
}

// cpuPressure reads how long, in all, some runnable task waited for a CPU
// (/proc/pressure/cpu, "some" total).
func cpuPressure() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return 0, false
	}
	for _, f := range strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) {
		if v, ok := strings.CutPrefix(f, "total="); ok {
			us, err := strconv.ParseInt(v, 10, 64)
			return time.Duration(us) * time.Microsecond, err == nil
		}
	}
	return 0, false
}

// cpuWithBench is cpuNow plus the load generator's own CPU.
func cpuWithBench(sys *system) cpuSample {
	c := sys.cpuNow()
	if v, ok := procCPU(os.Getpid()); ok {
		c["bench"] = v
	}
	return c
}

// pid is a running service's process id (0 when it is not running).
func (s *system) pid(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if svc := s.procs[name]; svc != nil {
		return svc.cmd.Process.Pid
	}
	return 0
}

// nofileLimits describes the open-file limits of the load generator (Go
// raised its soft limit to the hard one at start) and of the api.
func nofileLimits(sys *system) (bench, api string) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil {
		bench = fmt.Sprintf("soft %d, hard %d", l.Cur, l.Max)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", sys.pid("api")))
	if err != nil {
		return bench, "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) >= 2 {
				return bench, fmt.Sprintf("soft %s, hard %s", f[0], f[1])
			}
		}
	}
	return bench, "unknown"
}
