package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/instachat/instachat/pkg/testenv"
)

// TestSentinelFailover posts 300 messages a second to a primary with two
// replicas under Sentinel, kills the primary (SIGKILL, as a crash) and lets
// Sentinel promote a replica. With REDIS_WAIT_REPLICAS=1 no create answered
// 201 may be lost. Without it, the creates lost must all be among those
// accepted in the last second before the crash: the recovery point the
// README states for asynchronous replication.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	for _, tc := range []struct {
		name string
		wait int
	}{{"WAIT 1", 1}, {"without WAIT", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			primary := testenv.StartRedis(t)
			host, port, _ := net.SplitHostPort(primary.Addr)
			replicas := []*testenv.RedisServer{testenv.StartRedis(t), testenv.StartRedis(t)}
			for _, r := range replicas {
				r.Do("REPLICAOF", host, port)
			}
			for _, r := range replicas {
				eventually(t, 15*time.Second, "replica in sync", func() (bool, string) {
					info, _ := r.Do("INFO", "replication").(string)
					return strings.Contains(info, "master_link_status:up"), info
				})
			}
			sentinel := testenv.StartSentinel(t, "ic", primary, 1)
			eventually(t, 15*time.Second, "sentinel sees both replicas", func() (bool, string) {
				got, _ := sentinel.Do("SENTINEL", "REPLICAS", "ic").([]any)
				return len(got) == 2, fmt.Sprint(got)
			})
			rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: "ic", SentinelAddrs: []string{sentinel.Addr}})
			t.Cleanup(func() { rdb.Close() })
			s := newSystemOn(t, rdb, "ic:", "REDIS_ADDR="+sentinel.Addr, "REDIS_SENTINEL_MASTER=ic",
				fmt.Sprintf("REDIS_WAIT_REPLICAS=%d", tc.wait))
			db := s.sqlDB()
			a := newChatApp(s, 1)

			p := startPoster(a, 1, time.Second/300, "failover")
			time.Sleep(2 * time.Second)
			crashed := time.Now()
			primary.Kill()
			eventually(t, 30*time.Second, "Sentinel promotes a replica", func() (bool, string) {
				addr, _ := sentinel.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "ic").([]any)
				return len(addr) == 2 && fmt.Sprint(addr[1]) != port, fmt.Sprint(addr)
			})
			eventually(t, 30*time.Second, "creates accepted again", func() (bool, string) {
				p.mu.Lock()
				defer p.mu.Unlock()
				n := 0
				for _, m := range p.accepted {
					if m.at.After(crashed.Add(time.Second)) {
						n++
					}
				}
				return n > 50, fmt.Sprintf("%d accepted since the crash", n)
			})
			all := p.halt()

			// Everything accepted either persists or was lost with the primary.
			var stored map[int64]string
			deadline := time.Now().Add(60 * time.Second)
			for {
				stored = storedMessages(t, db, a.token, 1)
				missing := 0
				for _, m := range all {
					if stored[m.number] != m.body {
						missing++
					}
				}
				if missing == 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			var lost []accepted
			for _, m := range all {
				if stored[m.number] != m.body {
					lost = append(lost, m)
				}
			}
			conflicts := assertNeverOverwritten(t, db, a.token)
			t.Logf("%s: %d creates accepted, %d refused %v, %d lost, %d number conflicts kept",
				tc.name, len(all), sum(p.refused), p.refused, len(lost), conflicts)
			if tc.wait > 0 && len(lost) > 0 {
				t.Errorf("with WAIT 1, %d accepted creates were lost (first: %+v); want none", len(lost), lost[0])
			}
			for _, m := range lost {
				if m.at.Before(crashed.Add(-time.Second)) || m.at.After(crashed.Add(time.Second)) {
					t.Errorf("create %d %q accepted %v from the crash was lost: outside the stated recovery point (the last second)",
						m.number, m.body, m.at.Sub(crashed))
				}
			}
			for status, n := range p.refused {
				if status != 503 {
					t.Errorf("%d creates answered %d during the failover, want 201 or 503", n, status)
				}
			}
		})
	}
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
