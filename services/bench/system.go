package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// system is the InstaChat the harness starts for one run: fresh database, key
// prefix, index directory and ports, torn down by close.
type system struct {
	root, bin, dir string
	dbName, prefix string
	dsn            string // the run's database, as the services get it
	env            []string
	db             *sql.DB
	rdb            *redis.Client
	redisAddr      string
	apiURL         string
	writerURL      string
	procs          map[string]*service
	pprof          map[string]string       // service → its PPROF_ADDR
	external       map[string]*procSampler // MariaDB and Redis, found by process name
	mu             sync.Mutex
}

type service struct {
	cmd     *exec.Cmd
	done    chan struct{}
	sampler *procSampler
}

type systemConfig struct {
	root     string // repository root (holds go.work)
	mysqlDSN string // server DSN without a database
	redis    string
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startSystem builds the binaries and prepares the database and Redis; the
// services are started with start.
func startSystem(ctx context.Context, cfg systemConfig, log io.Writer) (*system, error) {
	s := &system{root: cfg.root, procs: map[string]*service{}, pprof: map[string]string{}, external: map[string]*procSampler{}}
	s.sampleExternal(ctx, cfg)
	s.bin = filepath.Join(cfg.root, "bin")
	if err := buildServices(ctx, cfg.root, s.bin, log); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "instachat-bench-")
	if err != nil {
		return nil, err
	}
	s.dir = dir
	s.dbName = "instachat_bench_" + randHex(4)
	s.prefix = "bench" + randHex(4) + ":"

	dsn, err := s.createDatabase(ctx, cfg.mysqlDSN)
	if err != nil {
		return nil, err
	}
	s.redisAddr = cfg.redis
	s.rdb = redis.NewClient(&redis.Options{Addr: cfg.redis, PoolSize: 256})
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.close(log)
		return nil, fmt.Errorf("redis: %w", err)
	}
	s.dsn = dsn
	if err := s.configure(dsn); err != nil {
		return nil, err
	}
	return s, nil
}

// sampleExternal samples MariaDB's and Redis's CPU and memory, when their
// processes run on this machine, until ctx ends. Each is the process
// listening on the port cfg names: the machine may run more than one
// MariaDB, and only ours does the run's work.
func (s *system) sampleExternal(ctx context.Context, cfg systemConfig) {
	mysqlAddr := ""
	if mc, err := mysql.ParseDSN(cfg.mysqlDSN); err == nil {
		mysqlAddr = mc.Addr
	}
	for name, server := range map[string]struct {
		addr  string
		comms []string
	}{"mariadb": {mysqlAddr, []string{"mariadbd", "mysqld"}}, "redis": {cfg.redis, []string{"redis-server"}}} {
		if pid := findServer(server.addr, server.comms...); pid > 0 {
			p := newProcSampler(pid)
			go p.run(ctx, nil)
			s.external[name] = p
		}
	}
}

// buildServices builds the api, writer and cron binaries of the repository
// at root into bin.
func buildServices(ctx context.Context, root, bin string, log io.Writer) error {
	fmt.Fprintln(log, "building bin/api bin/writer bin/cron")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin+"/", "./services/api", "./services/writer", "./services/cron")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// createDatabase creates the run's database s.dbName on the server of
// serverDSN, opens s.db on it and returns its DSN.
func (s *system) createDatabase(ctx context.Context, serverDSN string) (string, error) {
	mc, err := mysql.ParseDSN(serverDSN)
	if err != nil {
		return "", fmt.Errorf("parse MySQL DSN: %w", err)
	}
	mc.DBName = ""
	server, err := sql.Open("mysql", mc.FormatDSN())
	if err != nil {
		return "", err
	}
	defer server.Close()
	if _, err := server.ExecContext(ctx, "CREATE DATABASE `"+s.dbName+"` CHARACTER SET utf8mb4"); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	mc.DBName = s.dbName
	if s.db, err = sql.Open("mysql", mc.FormatDSN()); err != nil {
		return "", err
	}
	return mc.FormatDSN(), nil
}

// configure picks free addresses for the api and the writer and sets the
// environment every service starts with.
func (s *system) configure(dsn string) error {
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	writerAddr, _ := freeAddr()
	s.apiURL = "http://" + apiAddr
	s.writerURL = "http://" + writerAddr
	s.env = []string{
		"MYSQL_DSN=" + dsn,
		"REDIS_ADDR=" + s.redisAddr,
		"REDIS_KEY_PREFIX=" + s.prefix,
		"INTERNAL_TOKEN=" + randHex(16),
		"BLEVE_PATH=" + filepath.Join(s.dir, "bleve"),
		"API_URL=" + s.apiURL,
		"LOG_LEVEL=warn",
		"SEARCH_BACKEND=bleve",
		"RATE_LIMIT=off", // the benchmark measures capacity; the api's limits would measure themselves
	}
	return nil
}

// start runs one service on its address and waits for /readyz.
func (s *system) start(ctx context.Context, name string) error {
	addr := map[string]string{"api": strings.TrimPrefix(s.apiURL, "http://"), "writer": strings.TrimPrefix(s.writerURL, "http://")}[name]
	if addr == "" {
		var err error
		if addr, err = freeAddr(); err != nil {
			return err
		}
	}
	pprofAddr, err := freeAddr()
	if err != nil {
		return err
	}
	var args []string
	if name == "cron" {
		args = []string{"serve"} // without a command cron prints its usage
	}
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Env = append(append(os.Environ(), s.env...), "HTTP_ADDR="+addr, "PPROF_ADDR="+pprofAddr)
	svc, err := s.launch(ctx, name, cmd)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.pprof[name] = pprofAddr
	s.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-svc.done:
			return fmt.Errorf("%s exited at start; see %s", name, filepath.Join(s.dir, name+".log"))
		default:
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 60 s", name)
}

// launch starts cmd as process name, its output appended to <dir>/<name>.log,
// samples its CPU and memory until it exits, and keeps it for stop, close
// and the usage table. The reference pipeline runs through it too, so its
// resources are reported beside our services'.
func (s *system) launch(ctx context.Context, name string, cmd *exec.Cmd) (*service, error) {
	logf, err := os.OpenFile(filepath.Join(s.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	svc := &service{cmd: cmd, done: make(chan struct{}), sampler: newProcSampler(cmd.Process.Pid)}
	go func() { _ = cmd.Wait(); logf.Close(); close(svc.done) }()
	go svc.sampler.run(ctx, svc.done)
	s.mu.Lock()
	s.procs[name] = svc
	s.mu.Unlock()
	return svc, nil
}

// stop ends a service gracefully (SIGTERM) and keeps its resource figures.
func (s *system) stop(name string) {
	s.mu.Lock()
	svc := s.procs[name]
	s.mu.Unlock()
	if svc == nil {
		return
	}
	select {
	case <-svc.done:
		return
	default:
	}
	_ = svc.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-svc.done:
	case <-time.After(20 * time.Second):
		_ = svc.cmd.Process.Kill()
		<-svc.done
	}
}

// usage returns the peak RSS and CPU figures sampled so far per service.
func (s *system) usage() map[string]procUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]procUsage{}
	for name, svc := range s.procs {
		out[name] = svc.sampler.usage()
	}
	for name, p := range s.external {
		out[name+" (shared server)"] = p.usage()
	}
	return out
}

// scrape reads a service's /metrics.
func scrape(ctx context.Context, url string) (samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	return parseProm(resp.Body)
}

// messageCount is the number of message rows in MySQL.
func (s *system) messageCount(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages").Scan(&n)
	return n, err
}

// close stops every service (and any other process launched), drops the
// database and deletes the keys.
func (s *system) close(log io.Writer) {
	for _, name := range []string{"writer", "cron", "api"} {
		s.stop(name)
	}
	s.mu.Lock()
	var rest []string
	for name := range s.procs {
		rest = append(rest, name)
	}
	s.mu.Unlock()
	for _, name := range rest {
		s.stop(name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if s.db != nil {
		if _, err := s.db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+s.dbName+"`"); err != nil {
			fmt.Fprintf(log, "drop database %s: %v\n", s.dbName, err)
		}
		s.db.Close()
	}
	if s.rdb != nil {
		iter := s.rdb.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
			if len(keys) == 500 {
				s.rdb.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			s.rdb.Unlink(ctx, keys...)
		}
		s.rdb.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// procUsage is what the sampler saw of one process.
type procUsage struct {
	PeakRSS    int64   // bytes
	CPUSeconds float64 // user + system
	Wall       float64 // seconds sampled
}

// procSampler reads /proc/<pid>/status (VmRSS) and /proc/<pid>/stat
// (utime+stime) every 250 ms.
type procSampler struct {
	pid   int
	mu    sync.Mutex
	u     procUsage
	start time.Time
	base  float64 // CPU seconds at the first sample
	based bool
}

func newProcSampler(pid int) *procSampler { return &procSampler{pid: pid, start: time.Now()} }

func (p *procSampler) run(ctx context.Context, done <-chan struct{}) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		p.sample()
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
	}
}

const clockTicks = 100 // USER_HZ on Linux

func (p *procSampler) sample() {
	rss := readRSS(fmt.Sprintf("/proc/%d/status", p.pid))
	cpu, ok := procCPU(p.pid)
	p.mu.Lock()
	defer p.mu.Unlock()
	if rss > p.u.PeakRSS {
		p.u.PeakRSS = rss
	}
	if ok {
		if !p.based {
			p.base, p.based = cpu, true
		}
		p.u.CPUSeconds = cpu - p.base
		p.u.Wall = time.Since(p.start).Seconds()
	}
}

func (p *procSampler) usage() procUsage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.u
}

func readRSS(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// procCPU returns the CPU seconds (user + system) process pid has used.
func procCPU(pid int) (float64, bool) { return readCPU(fmt.Sprintf("/proc/%d/stat", pid)) }

func readCPU(path string) (float64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := string(b)
	// The command name may hold spaces; fields start after its ')'.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, true
}

// findProcess returns the pid of the first process whose command name is one
// of comms, or 0.
func findProcess(comms ...string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && hasComm(pid, comms) {
			return pid
		}
	}
	return 0
}

// fetchProfile reads /debug/pprof/<query> of a running service (a CPU
// profile lasts d) and writes it to path.
func (s *system) fetchProfile(ctx context.Context, name, query string, d time.Duration, path string) error {
	s.mu.Lock()
	addr := s.pprof[name]
	s.mu.Unlock()
	if addr == "" {
		return fmt.Errorf("%s is not running", name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/%s", addr, query), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: status %d", name, resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// waitQuiet waits until a service uses less than a fifth of a core over two
// seconds (its backlog of work is done), or the timeout passes, and returns
// how long it waited.
func (s *system) waitQuiet(ctx context.Context, name string, timeout time.Duration) time.Duration {
	s.mu.Lock()
	svc := s.procs[name]
	s.mu.Unlock()
	if svc == nil {
		return 0
	}
	return waitQuietPid(ctx, svc.cmd.Process.Pid, timeout)
}

// waitQuietPid waits until process pid uses less than a fifth of a core over
// two seconds, or the timeout passes, and returns how long it waited.
func waitQuietPid(ctx context.Context, pid int, timeout time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < timeout && ctx.Err() == nil {
		a, ok1 := procCPU(pid)
		time.Sleep(2 * time.Second)
		b, ok2 := procCPU(pid)
		if !ok1 || !ok2 || (b-a)/2 < 0.2 {
			break
		}
	}
	return time.Since(start)
}

// cpuSample is the CPU seconds each process had used at one moment.
type cpuSample map[string]float64

// cpuNow reads the CPU seconds of every service and shared server now.
func (s *system) cpuNow() cpuSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := cpuSample{}
	for name, svc := range s.procs {
		if v, ok := procCPU(svc.cmd.Process.Pid); ok {
			out[name] = v
		}
	}
	for name, p := range s.external {
		if v, ok := procCPU(p.pid); ok {
			out[name] = v
		}
	}
	return out
}

// minus returns the CPU seconds used since earlier; a process that started
// in between counts from zero.
func (c cpuSample) minus(earlier cpuSample) cpuSample {
	out := cpuSample{}
	for name, v := range c {
		out[name] = v - earlier[name]
	}
	return out
}
