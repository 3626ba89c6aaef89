package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// runClosedLoop sends creates from clients clients for d, each client its
// next as soon as its last was answered (send(ctx, i) sends create i and
// returns its status), and records them in rec as "create". It measures
// throughput, not latency: a slow answer slows the load down.
func runClosedLoop(ctx context.Context, clients int, d time.Duration, rec *recorder, send func(ctx context.Context, i int) int) {
	start := time.Now()
	rec.begin(start)
	var wg sync.WaitGroup
	for k := range clients {
		wg.Go(func() {
			for i := k; time.Since(start) < d && ctx.Err() == nil; i += clients {
				at := time.Now()
				status := send(ctx, i)
				rec.record("create", at, time.Since(at), status)
			}
		})
	}
	wg.Wait()
}

// machineLoad starts watching how much the machine's other work competed
// for the CPUs; the returned func describes it since then. The machine is
// shared: a neighbour's tests show here, not only in the figures.
func machineLoad() func() string {
	p0, ok := cpuPressure()
	start := time.Now()
	return func() string {
		p1, ok1 := cpuPressure()
		text := "load " + loadAverage()
		if ok && ok1 {
			text = fmt.Sprintf("CPU pressure %.0f %%, %s", 100*(p1-p0).Seconds()/time.Since(start).Seconds(), text)
		}
		return text
	}
}

// cpuPressureMeter starts watching the machine's CPU pressure (the share of
// wall time some task waited for a CPU, /proc/pressure/cpu); the returned
// func gives it in % since then, or -1 where the kernel does not say.
func cpuPressureMeter() func() float64 {
	p0, ok := cpuPressure()
	start := time.Now()
	return func() float64 {
		p1, ok1 := cpuPressure()
		if !ok || !ok1 {
			return -1
		}
		return 100 * (p1 - p0).Seconds() / time.Since(start).Seconds()
	}
}
