package main

import (
	"fmt"
	"io"
)

// writerStages lists the writer's time per batch in each stage of its loop
// (instachat_writer_stage_seconds), so a report shows where a batch's time
// goes: MySQL (apply), Redis (park, ack, record) or the reindex read (observe).
func writerStages(w io.Writer, s samples) {
	sums := s.byLabel("instachat_writer_stage_seconds_sum", "stage")
	counts := s.byLabel("instachat_writer_stage_seconds_count", "stage")
	if len(sums) == 0 {
		return
	}
	total := 0.0
	for _, v := range sums {
		total += v
	}
	fmt.Fprintln(w, "\n| writer stage (per batch) | batches | mean ms | share of loop time |\n|---|---:|---:|---:|")
	for _, st := range []string{"resolve", "apply", "park", "ack", "record", "observe"} {
		n := counts[st]
		if n == 0 {
			continue
		}
		share := 0.0
		if total > 0 {
			share = 100 * sums[st] / total
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.0f%% |\n", st, n, 1000*sums[st]/n, share)
	}
}
