package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// report collects the results of one run.
type report struct {
	Started    time.Time `json:"started"`
	GoVersion  string    `json:"go_version"`
	Platform   string    `json:"platform"`
	CPUs       int       `json:"cpus"`
	WarmupS    float64   `json:"warmup_s"`
	Generator  string    `json:"generator"`
	LoadAvg    string    `json:"loadavg,omitempty"`
	LoadAvgEnd string    `json:"loadavg_end,omitempty"`
	Command    string    `json:"command"`
	// The baseline's req/s at the start and at the end of the run, their
	// mean (what the ratios use) and their difference in percent of the
	// first; 0 when the baseline was not run.
	BaselineStartRPS float64  `json:"baseline_start_req_per_s,omitempty"`
	BaselineEndRPS   float64  `json:"baseline_end_req_per_s,omitempty"`
	BaselineMeanRPS  float64  `json:"baseline_mean_req_per_s,omitempty"`
	BaselineDriftPct float64  `json:"baseline_drift_pct,omitempty"`
	Results          []result `json:"results"`
	finalized        bool
	warmupFlag       time.Duration
}

func newReport(opts options) *report {
	return &report{
		Started: time.Now().UTC(), GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU(),
		WarmupS: opts.warmup.Seconds(), warmupFlag: opts.warmup,
		Generator: fmt.Sprintf("%s, -t%d -c%d (password -c%d), Lua scripts of bench/wrk", wrkVersion(), opts.threads, opts.conns, opts.pwConns),
		LoadAvg:   loadAvg(), Command: strings.Join(os.Args, " "),
	}
}

// wrkVersion is the first words of `wrk --version`.
func wrkVersion() string {
	out, _ := exec.Command("wrk", "--version").CombinedOutput()
	f := strings.Fields(string(out))
	if len(f) >= 2 {
		return f[0] + " " + f[1]
	}
	return "wrk"
}

// loadAvg is the 1, 5 and 15 minute load average, where the OS tells it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func (r *report) add(res ...result) { r.Results = append(r.Results, res...) }

// finalize computes each row's ratio and verdict.
func (r *report) finalize() {
	if r.finalized {
		return
	}
	r.finalized = true
	r.LoadAvgEnd = loadAvg()
	ref := map[string]float64{}
	for _, res := range r.Results {
		ref[res.Scenario] = res.RPS
		switch res.Scenario {
		case scenarioBaseline:
			r.BaselineStartRPS = res.RPS
		case scenarioBaselineAgain:
			r.BaselineEndRPS = res.RPS
		case scenarioArgon2id:
			ref[ratioToArgon2id] = res.RPS
		}
	}
	r.BaselineMeanRPS = r.BaselineStartRPS
	if r.BaselineStartRPS > 0 && r.BaselineEndRPS > 0 {
		r.BaselineMeanRPS = (r.BaselineStartRPS + r.BaselineEndRPS) / 2
		r.BaselineDriftPct = 100 * math.Abs(r.BaselineEndRPS-r.BaselineStartRPS) / r.BaselineStartRPS
	}
	ref[ratioToBaseline] = r.BaselineMeanRPS
	for i := range r.Results {
		r.Results[i].judge(ref)
	}
}

func (res *result) judge(ref map[string]float64) {
	sc, ok := scenarioByName(res.Scenario)
	if !ok || sc.ratioTo == "" || ref[sc.ratioTo] == 0 {
		return
	}
	res.RatioTo = sc.ratioTo
	res.RatioPct = 100 * res.RPS / ref[sc.ratioTo]
	res.GoalPct = sc.goal
	if sc.reference {
		return
	}
	pass := res.RatioPct >= sc.goal && res.Errors == 0
	res.Pass = &pass
}

func scenarioByName(name string) (scenario, bool) {
	for _, sc := range scenarios {
		if sc.name == name {
			return sc, true
		}
	}
	return scenario{}, false
}

func (r *report) print(w io.Writer) {
	r.finalize()
	fmt.Fprintf(w, "\nlatchkey load benchmark, %s, %s %s, %d CPUs, warmup %s per scenario (not counted)\n",
		r.Started.Format(time.RFC3339), r.GoVersion, r.Platform, r.CPUs, r.warmupFlag)
	fmt.Fprintf(w, "Command: %s\n", r.Command)
	fmt.Fprintf(w, "Generator: %s. GEN CPU is wrk's own CPU time per request, SRV CPU the server's: "+
		"the yardstick is honest when GEN CPU is well below the baseline's SRV CPU.\n", r.Generator)
	if r.LoadAvg != "" {
		fmt.Fprintf(w, "Load average before the run: %s, after: %s (anything else busy on the machine skews every row).\n", r.LoadAvg, r.LoadAvgEnd)
	}
	fmt.Fprintf(w, "baseline = bare Gin handler in its own process (form + Basic auth parse, fixed ~%d-byte JSON); "+
		"latchkey = its own process on embedded SQLite at log level info (the default: one access-log line per request), "+
		"%s at log level warn, %s Postgres + Redis (tokens in Redis) at info.\n\n",
		len(baselineBodySample()), strings.TrimSpace(warnSuffix), strings.TrimSpace(prodSuffix))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SCENARIO\tCONNS\tREQUESTS\tERRORS\tREQ/S\tP50\tP90\tP99\tGEN CPU\tSRV CPU\tCACHE HIT\tREDIS RT/REQ\tPEAK RSS\tRATIO\tTARGET\tRESULT\t")
	for _, res := range r.Results {
		fmt.Fprintln(tw, res.row())
	}
	_ = tw.Flush()
	r.printTail(w)
	r.printErrors(w)
}

func (res result) row() string {
	ratio, target, verdict := "-", "-", "-"
	if res.Scenario == scenarioBaseline || res.Scenario == scenarioBaselineAgain {
		ratio = "reference"
	}
	if res.RatioTo != "" {
		ratio = fmt.Sprintf("%.1f %% of %s", res.RatioPct, res.RatioTo)
		if res.GoalPct > 0 {
			target = fmt.Sprintf(">= %.0f %%", res.GoalPct)
		}
		if res.Pass != nil {
			verdict = map[bool]string{true: "PASS", false: "MISS"}[*res.Pass]
		}
	}
	opt := func(v *float64, format string) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf(format, *v)
	}
	return fmt.Sprintf("%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t",
		res.Scenario, res.Conns, res.Requests, res.Errors, res.RPS,
		fmtLatency(res.P50), fmtLatency(res.P90), fmtLatency(res.P99),
		opt(res.GenCPUus, "%.1fus"), opt(res.ServerCPUus, "%.1fus"), opt(res.CacheHitPct, "%.1f %%"),
		opt(res.RedisRT, "%.2f"), opt(res.PeakRSSMiB, "%.0f MiB"), ratio, target, verdict)
}

func fmtLatency(d time.Duration) string {
	return fmt.Sprintf("%.2fms", ms(d))
}

// printTail prints the baseline's two runs, the cold-cache introspections
// against the bare verification, and compares each client_credentials p99 with
// the introspection p99 of the same server (target, on the embedded
// default only: at most 3x; the other servers' are reported).
func (r *report) printTail(w io.Writer) {
	byName := map[string]result{}
	for _, res := range r.Results {
		byName[res.Scenario] = res
	}
	if r.BaselineStartRPS > 0 && r.BaselineEndRPS > 0 {
		fmt.Fprintf(w, "\nbaseline: %s req/s at the start, %s at the end (drift %.1f %%); ratios use the mean",
			thousands(r.BaselineStartRPS), thousands(r.BaselineEndRPS), r.BaselineDriftPct)
		if r.BaselineDriftPct > maxBaselineDriftPct {
			fmt.Fprintf(w, "\nWARNING: the baseline moved by more than %.0f %% during the run: "+
				"the machine was not steady, and the ratios are unreliable", float64(maxBaselineDriftPct))
		}
	}
	if ref, ok := byName[scenarioSignReference]; ok && ref.RPS > 0 {
		for _, suffix := range []string{"", warnSuffix, prodSuffix} {
			if cc, ok := byName[scenarioClientCredentials+suffix]; ok {
				fmt.Fprintf(w, "\n%s is %.1f %% of the bare ES256 signing (%s req/s)",
					cc.Scenario, 100*cc.RPS/ref.RPS, thousands(ref.RPS))
			}
		}
	}
	if ref, ok := byName[scenarioVerifyReference]; ok && ref.RPS > 0 {
		for _, suffix := range []string{"", warnSuffix, prodSuffix} {
			if cold, ok := byName[scenarioIntrospectionCold+suffix]; ok {
				fmt.Fprintf(w, "\n%s is %.1f %% of the bare ES256 verification (%s req/s)",
					cold.Scenario, 100*cold.RPS/ref.RPS, thousands(ref.RPS))
			}
		}
	}
	for _, suffix := range []string{"", warnSuffix, prodSuffix} {
		cc, ok1 := byName[scenarioClientCredentials+suffix]
		in, ok2 := byName[scenarioIntrospection+suffix]
		if !ok1 || !ok2 || in.P99 == 0 {
			continue
		}
		x := float64(cc.P99) / float64(in.P99)
		verdict := "(target <= 3x): " + map[bool]string{true: "PASS", false: "MISS"}[x <= 3]
		if suffix != "" {
			// The target is the embedded default's at log level info.
			verdict = "(reported)"
		}
		fmt.Fprintf(w, "\nclient_credentials%s p99 is %.1fx introspection's %s", suffix, x, verdict)
	}
	for _, res := range r.Results {
		if res.FlowsPerSec != nil {
			fmt.Fprintf(w, "\n%s: %.0f sign-ins/s, each GET /oauth2/authorize with a session cookie (302 with a code) "+
				"then POST /oauth2/token redeeming it; REQ/S and the latencies count both requests", res.Scenario, *res.FlowsPerSec)
		}
	}
	fmt.Fprintln(w)
}

func (r *report) printErrors(w io.Writer) {
	for _, res := range r.Results {
		if res.FirstError != "" {
			fmt.Fprintf(w, "\nerrors of %s (%d): %s\n", res.Scenario, res.Errors, res.FirstError)
		}
	}
	if len(r.Results) > 0 {
		fmt.Fprintln(w, "\nRESULT needs the ratio at or above TARGET and no errors; "+
			"password is compared with the raw argon2id rate measured in-process with NumCPU goroutines, "+
			"and its PEAK RSS is the server's VmHWM after the password flood (target <= 150 MiB); "+
			"[pg+redis] rows are compared with the same scenario on the embedded default (target >= 80 %); "+
			"the baseline is measured first and again last, and the ratios to it use the mean of both; "+
			"the ES256 sign and verify rows are references (bare Gin handlers that only sign a client_credentials token, or verify the cold introspection's tokens with go-jose), with no verdict.")
	}
}

// maxBaselineDriftPct is how far the baseline's two runs may differ before
// the report warns that the ratios are unreliable.
const maxBaselineDriftPct = 10

// thousands formats v rounded, with commas between thousands: 55,156.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (r *report) writeJSON(path string) error {
	r.finalize()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// baselineBodySample is the baseline's response body.
func baselineBodySample() []byte {
	b, _ := json.Marshal(baselineResponse{AccessToken: baselineToken, TokenType: "Bearer", ExpiresIn: 300, Scope: "profile email"})
	return b
}
