package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// result is one row of the report.
type result struct {
	Scenario string        `json:"scenario"`
	Conns    int           `json:"conns"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_s"`
	Requests int           `json:"requests"`
	Errors   int           `json:"errors"`
	RPS      float64       `json:"req_per_s"`
	P50      time.Duration `json:"-"`
	P90      time.Duration `json:"-"`
	P99      time.Duration `json:"-"`
	P50ms    float64       `json:"p50_ms"`
	P90ms    float64       `json:"p90_ms"`
	P99ms    float64       `json:"p99_ms"`
	AvgBytes int           `json:"avg_response_bytes,omitempty"`
	RatioTo  string        `json:"ratio_to,omitempty"`
	RatioPct float64       `json:"ratio_pct,omitempty"`
	GoalPct  float64       `json:"goal_pct,omitempty"`
	Pass     *bool         `json:"pass,omitempty"`
	// FirstError says what kinds of errors there were.
	FirstError string `json:"first_error,omitempty"`
	// GenCPUus and ServerCPUus are the CPU time per request of the load
	// generator (wrk) and of the server under test, in microseconds.
	GenCPUus    *float64 `json:"generator_cpu_us_per_request,omitempty"`
	ServerCPUus *float64 `json:"server_cpu_us_per_request,omitempty"`
	// CacheHitPct is the verified-token cache's hit rate in the measured
	// phase (introspection rows; nil when not measured).
	CacheHitPct *float64 `json:"verified_cache_hit_pct,omitempty"`
	// RedisRT is the Redis round trips per request, as latchkey counts
	// them (production shape only; nil when not measured).
	RedisRT *float64 `json:"redis_round_trips_per_request,omitempty"`
	// PeakRSSMiB is the server's peak resident memory after the scenario
	// (password rows).
	PeakRSSMiB *float64 `json:"peak_rss_mib,omitempty"`
	// FlowsPerSec is the code rows' completed sign-ins per second: token
	// answers with an access token, each after its authorize request.
	FlowsPerSec *float64 `json:"sign_ins_per_s,omitempty"`
}

// wrkOutput is what the scripts' done() prints after "BENCHJSON ".
type wrkOutput struct {
	Requests   int   `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Bytes      int64 `json:"bytes"`
	Connect    int   `json:"connect"`
	Read       int   `json:"read"`
	Write      int   `json:"write"`
	Status     int   `json:"status"`
	Timeout    int   `json:"timeout"`
	Bad        int   `json:"bad"`
	Starved    int   `json:"starved"`
	Flows      int   `json:"flows"`
	P50us      int64 `json:"p50_us"`
	P90us      int64 `json:"p90_us"`
	P99us      int64 `json:"p99_us"`
	MaxUS      int64 `json:"max_us"`
}

// wrkRun is one wrk invocation's outcome.
type wrkRun struct {
	out    wrkOutput
	cpu    time.Duration // wrk's own user+system CPU time
	stdout string
}

// scriptDir finds bench/wrk: next to the sources when run from the
// repository, else -scripts.
func scriptDir(ctx context.Context, opts options) (string, error) {
	if opts.scripts != "" {
		return opts.scripts, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", fmt.Errorf("find the wrk scripts (or pass -scripts DIR): %w", err)
	}
	return filepath.Join(root, "bench", "wrk"), nil
}

// wrkPath returns the wrk binary, or says exactly how to get one.
func wrkPath() (string, error) {
	path, err := exec.LookPath("wrk")
	if err == nil {
		return path, nil
	}
	return "", errors.New("wrk is not installed: run `make bench` (it installs it with apt-get when it can), " +
		"or `sudo apt-get install wrk` (Debian, Ubuntu), `brew install wrk` (macOS)")
}

// runWrk runs wrk against url for d with script and env, and parses the
// line its done() prints.
func runWrk(ctx context.Context, opts options, conns int, d time.Duration, script, url string, env []string) (wrkRun, error) {
	bin, err := wrkPath()
	if err != nil {
		return wrkRun{}, err
	}
	threads := min(opts.threads, conns)
	args := []string{
		"-t", fmt.Sprint(threads), "-c", fmt.Sprint(conns),
		"-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second).Seconds()))), "--timeout", "10s",
		"-s", script, url,
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), env...), fmt.Sprintf("BENCH_THREADS=%d", threads))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return wrkRun{}, fmt.Errorf("wrk %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	run := wrkRun{stdout: stdout.String(), cpu: childCPU(cmd.ProcessState)}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "BENCHJSON "); ok {
			if err := json.Unmarshal([]byte(rest), &run.out); err != nil {
				return wrkRun{}, fmt.Errorf("wrk script output %q: %w", rest, err)
			}
			return run, nil
		}
	}
	return wrkRun{}, fmt.Errorf("wrk printed no BENCHJSON line:\n%s%s", run.stdout, stderr.String())
}

// toResult turns a measured wrk run into a report row.
func (w wrkRun) toResult(name string, conns int) result {
	o := w.out
	elapsed := time.Duration(o.DurationUS) * time.Microsecond
	r := result{Scenario: name, Conns: conns, Duration: elapsed, Seconds: elapsed.Seconds(), Requests: o.Requests}
	r.Errors = o.Connect + o.Read + o.Write + o.Status + o.Timeout + o.Bad + o.Starved
	if r.Errors > 0 {
		r.FirstError = fmt.Sprintf("connect %d, read %d, write %d, non-2xx %d, timeout %d, bad body %d, out of refresh tokens %d",
			o.Connect, o.Read, o.Write, o.Status, o.Timeout, o.Bad, o.Starved)
	}
	if o.Requests > 0 {
		r.AvgBytes = int(o.Bytes / int64(o.Requests))
		gen := float64(w.cpu.Microseconds()) / float64(o.Requests)
		r.GenCPUus = &gen
	}
	if elapsed > 0 {
		r.RPS = float64(o.Requests) / elapsed.Seconds()
		if o.Flows > 0 {
			v := float64(o.Flows) / elapsed.Seconds()
			r.FlowsPerSec = &v
		}
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	r.P50, r.P90, r.P99 = us(o.P50us), us(o.P90us), us(o.P99us)
	r.P50ms, r.P90ms, r.P99ms = ms(r.P50), ms(r.P90), ms(r.P99)
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// childCPU is a finished process's user + system CPU time.
func childCPU(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	return ps.UserTime() + ps.SystemTime()
}

// procCPU reads a running process's user + system CPU time from /proc
// (Linux); ok is false elsewhere.
func procCPU(pid int) (time.Duration, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: fields count from the
	// closing parenthesis. utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	var utime, stime int64
	if _, err := fmt.Sscan(f[11], &utime); err != nil {
		return 0, false
	}
	if _, err := fmt.Sscan(f[12], &stime); err != nil {
		return 0, false
	}
	const clockTicks = 100 // USER_HZ, 100 on every Linux architecture Go supports
	return time.Duration(utime+stime) * time.Second / clockTicks, true
}

// peakRSS reads a running process's peak resident memory (VmHWM) in MiB.
func peakRSS(pid int) (float64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), &kb); err == nil {
				return kb / 1024, true
			}
		}
	}
	return 0, false
}

// resetPeakRSS resets a process's VmHWM to its current RSS (Linux: "5" to
// /proc/PID/clear_refs), so that peakRSS reports the peak of what follows.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
