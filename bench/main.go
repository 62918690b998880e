// Command bench is latchkey's load benchmark. In one run on one machine it
// measures req/s, p50 and p99 of a bare Gin baseline and of latchkey's token
// and introspection endpoints, plus the raw argon2id rate that bounds the
// password grant, and prints them with their ratios and targets.
//
//	go run ./bench -duration 10s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	duration     time.Duration
	warmup       time.Duration
	conns        int
	threads      int
	coldTokens   int
	scripts      string
	pwConns      int
	pwDuration   time.Duration
	only         string
	latchkeyPath string
	jsonPath     string
	postgresDSN  string
	redisURL     string
	// serveBaseline and baselineIssuer are the hidden flags of the
	// re-executed baseline process: its address, and the latchkey whose
	// JWKS its verify route uses (none: no verify route).
	serveBaseline  string
	baselineIssuer string
}

// hiddenFlags are left out of -help.
var hiddenFlags = map[string]bool{"serve-baseline": true, "baseline-issuer": true}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration of each scenario")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warmup before each scenario (not counted)")
	fs.IntVar(&o.conns, "conns", 64, "wrk connections (-c) per scenario")
	fs.IntVar(&o.threads, "threads", 2, "wrk threads (-t)")
	fs.IntVar(&o.coldTokens, "cold-tokens", 25000, "access tokens cycled by the cold-cache introspection; more than the server's tokens.verified_cache_size (20000)")
	fs.StringVar(&o.scripts, "scripts", "", "directory of the wrk Lua scripts (default bench/wrk of the module)")
	fs.IntVar(&o.pwConns, "password-conns", 64, "connections of the password scenario (a flood: the server bounds concurrent hashes)")
	fs.DurationVar(&o.pwDuration, "password-duration", 0, "duration of the password scenario and of the raw argon2id run (default half of -duration, at least 1s)")
	fs.StringVar(&o.only, "only", "", "comma-separated scenarios to run (default all): "+scenarioNames())
	fs.StringVar(&o.latchkeyPath, "latchkey", "", "latchkey binary to run (default: go build ./cmd/latchkey into a temp dir)")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.postgresDSN, "postgres", os.Getenv("LATCHKEY_TEST_POSTGRES_DSN"), "Postgres URL of the production-shape scenarios; a throwaway schema is made in it (default $LATCHKEY_TEST_POSTGRES_DSN)")
	fs.StringVar(&o.redisURL, "redis", os.Getenv("LATCHKEY_TEST_REDIS_URL"), "Redis URL of the production-shape scenarios; keys go under a throwaway prefix (default $LATCHKEY_TEST_REDIS_URL)")
	fs.StringVar(&o.serveBaseline, "serve-baseline", "", "internal: serve the Gin baseline on this address")
	fs.StringVar(&o.baselineIssuer, "baseline-issuer", "", "internal: the latchkey whose JWKS the baseline's verify route uses")
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.pwDuration <= 0 {
		o.pwDuration = max(o.duration/2, time.Second)
	}
	if o.duration <= 0 || o.conns <= 0 || o.pwConns <= 0 || o.threads <= 0 || o.coldTokens <= 0 || o.warmup < 0 {
		return o, errors.New("-duration, -conns, -threads, -cold-tokens and -password-conns must be positive, -warmup not negative")
	}
	return o, nil
}

func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintln(out, "Usage: go run ./bench [flags]")
	fs.VisitAll(func(f *flag.Flag) {
		if hiddenFlags[f.Name] {
			return
		}
		def := ""
		if f.DefValue != "" && !strings.Contains(f.Usage, "(default") {
			def = " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(out, "  -%s\n    \t%s%s\n", f.Name, f.Usage, def)
	})
}

func main() {
	opts, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if opts.serveBaseline != "" {
		err = serveBaseline(ctx, opts.serveBaseline, opts.baselineIssuer)
	} else {
		err = run(ctx, opts)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run starts the servers the chosen scenarios need, runs the scenarios one
// after another and reports.
func run(ctx context.Context, opts options) error {
	selected, err := selectScenarios(opts.only)
	if err != nil {
		return err
	}
	rep := newReport(opts)
	tmp, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	t, err := startTargets(ctx, opts, tmp, selected)
	if err != nil {
		return err
	}
	defer t.stop()
	for _, sc := range selected {
		res, err := runOne(ctx, opts, t, sc)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rep.add(res...)
	}
	rep.print(os.Stdout)
	if opts.jsonPath != "" {
		return rep.writeJSON(opts.jsonPath)
	}
	return nil
}

// runOne runs one scenario; the password scenario also measures raw
// argon2id, in-process, while the servers are idle.
func runOne(ctx context.Context, opts options, t *targets, sc scenario) ([]result, error) {
	var out []result
	if sc.name == scenarioPassword {
		logf("argon2id raw: %d goroutines for %s", argonWorkers(), opts.pwDuration)
		raw, err := argonRate(ctx, opts.pwDuration)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	res, err := runScenario(ctx, opts, t, sc)
	if err != nil {
		return nil, err
	}
	return append(out, res), nil
}

// logf prints progress to stderr, so stdout holds only the report.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}
