package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is everything `eventline` reads from the environment (and from the
// flags of `serve`, which win).
type Config struct {
	HTTPAddr        string
	DataDir         string
	NATSURL         string
	NATSCreds       string
	NATSListen      string
	DatabaseURL     string
	NATSSync        string
	APIToken        string
	Roles           []string
	ProjectionBatch int
	ProjectionWait  time.Duration
	// ProjectionWaitInPlace is ProjectionWait for the projections updated
	// in place (sagas, orders, workflows); 0: 5 × ProjectionWait.
	ProjectionWaitInPlace time.Duration
	// StreamReplicas is every stream's replica count (EVENTLINE_STREAM_REPLICAS).
	StreamReplicas int
	// ProcessID names this process among the others of a deployment
	// (EVENTLINE_PROCESS_ID; default "<short hostname>-<pid>"): in its log
	// lines, metric labels, PostgreSQL application_name and NATS
	// connection names, and in the names of consumers and subjects it owns.
	ProcessID string
	// GroupCommit is auto, on or off (EVENTLINE_NATS_GROUP_COMMIT): whether
	// appends arriving together share one atomic batch (eventstore
	// GroupCommit); auto turns it on for the embedded server with
	// EVENTLINE_NATS_SYNC=always.
	GroupCommit string

	// SyncInterval is how often every customer is synced (EVENTLINE_SYNC_INTERVAL).
	SyncInterval time.Duration
	// SyncDailyAt is the local time of the daily full sync (EVENTLINE_SYNC_DAILY_AT, "15:04").
	SyncDailyAt string
	// SyncPageLength is the Zuora page length, 1..50 (EVENTLINE_SYNC_PAGE_LENGTH).
	SyncPageLength int
	// SyncRetryAttempts is how many times a failed sync is retried (EVENTLINE_SYNC_RETRY_ATTEMPTS).
	SyncRetryAttempts int
	// SyncRetryDelay is the first retry's delay (EVENTLINE_SYNC_RETRY_DELAY).
	SyncRetryDelay time.Duration
	// SecretKey is the base64 AES-256 key of the stored Zuora secrets
	// (EVENTLINE_SECRET_KEY); empty: generated into the data dir.
	SecretKey string

	// SagaStepTimeout is one saga step attempt's time limit (EVENTLINE_SAGA_STEP_TIMEOUT).
	SagaStepTimeout time.Duration
	// SagaRetryAttempts is the attempts per step, the first included (EVENTLINE_SAGA_RETRY_ATTEMPTS).
	SagaRetryAttempts int
	// SagaRetryDelay is a step's first retry delay (EVENTLINE_SAGA_RETRY_DELAY).
	SagaRetryDelay time.Duration
	// SagaCompensationTimeout is how long a compensation keeps retrying
	// before the saga is failed (EVENTLINE_SAGA_COMPENSATION_TIMEOUT).
	SagaCompensationTimeout time.Duration
	// SagaPartitions is the number of saga partitions (EVENTLINE_PARTITIONS).
	SagaPartitions int

	// Logs is the logs module's retention (EVENTLINE_LOGS_*, config_logs.go).
	Logs LogsConfig

	// Security is the Host allow-list (EVENTLINE_ALLOWED_HOSTS, config_security.go).
	Security SecurityConfig
}

// knownRoles are the parts a process can run (EVENTLINE_ROLES).
var knownRoles = []string{"api", "projector", "saga", "sync"}

// defaultConfig returns the contract's defaults.
func defaultConfig() Config {
	return Config{
		HTTPAddr:        "127.0.0.1:8080",
		DataDir:         "./data",
		NATSListen:      "127.0.0.1:4222",
		NATSSync:        "interval",
		GroupCommit:     "auto",
		Roles:           slices.Clone(knownRoles),
		ProjectionBatch: 1000,
		ProjectionWait:  50 * time.Millisecond,
		StreamReplicas:  1,
		ProcessID:       defaultProcessID(),

		SagaStepTimeout:         300 * time.Second,
		SagaRetryAttempts:       3,
		SagaRetryDelay:          60 * time.Second,
		SagaCompensationTimeout: 600 * time.Second,
		SagaPartitions:          16, // orders.DefaultPartitions

		SyncInterval:      time.Hour,
		SyncDailyAt:       "02:00",
		SyncPageLength:    50,
		SyncRetryAttempts: 3,
		SyncRetryDelay:    60 * time.Second,

		Logs: defaultLogsConfig(),
	}
}

// loadConfig reads the environment over the defaults; flags parsed later by
// the caller override it.
func loadConfig(getenv func(string) string) (Config, error) {
	c := defaultConfig()
	env := &envReader{getenv: getenv}
	env.text("EVENTLINE_HTTP_ADDR", &c.HTTPAddr)
	env.text("EVENTLINE_DATA_DIR", &c.DataDir)
	env.text("NATS_URL", &c.NATSURL)
	env.text("NATS_CREDS", &c.NATSCreds)
	env.text("EVENTLINE_NATS_LISTEN", &c.NATSListen)
	env.text("DATABASE_URL", &c.DatabaseURL)
	env.text("EVENTLINE_NATS_SYNC", &c.NATSSync)
	env.text("EVENTLINE_NATS_GROUP_COMMIT", &c.GroupCommit)
	env.text("EVENTLINE_API_TOKEN", &c.APIToken)
	env.text("EVENTLINE_PROCESS_ID", &c.ProcessID)
	if v := getenv("EVENTLINE_ROLES"); v != "" {
		c.Roles = parseRoles(v)
	}
	env.number("EVENTLINE_PROJECTION_BATCH", &c.ProjectionBatch)
	env.number("EVENTLINE_STREAM_REPLICAS", &c.StreamReplicas)
	env.duration("EVENTLINE_PROJECTION_WAIT", &c.ProjectionWait)
	env.duration("EVENTLINE_PROJECTION_WAIT_IN_PLACE", &c.ProjectionWaitInPlace)
	c.loadSyncEnv(env)
	c.loadSagaEnv(env)
	c.loadLogsEnv(env)
	env.text("EVENTLINE_ALLOWED_HOSTS", &c.Security.AllowedHosts)
	return c, errors.Join(env.errs...)
}

// processIDPattern is what a process id may hold: it names NATS consumers
// and subjects, so no dots, wildcards or spaces.
var processIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// defaultProcessID returns "<short hostname>-<pid>", with any character a
// process id may not hold replaced by "-" and the hostname shortened so
// that the whole fits in 64 characters.
func defaultProcessID() string {
	host, err := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	if err != nil || host == "" {
		host = "eventline"
	}
	pid := strconv.Itoa(os.Getpid())
	host = strings.Map(func(r rune) rune {
		if r < 128 && processIDPattern.MatchString(string(r)) {
			return r
		}
		return '-'
	}, host)
	if n := 64 - 1 - len(pid); len(host) > n {
		host = host[:n]
	}
	return host + "-" + pid
}

func parseRoles(v string) []string {
	var roles []string
	for _, r := range strings.Split(v, ",") {
		if r = strings.TrimSpace(r); r == "all" {
			return slices.Clone(knownRoles)
		} else if r != "" {
			roles = append(roles, r)
		}
	}
	return roles
}

// rolesFlag lets --roles take the same comma list as EVENTLINE_ROLES.
type rolesFlag struct{ c *Config }

func (f rolesFlag) String() string {
	if f.c == nil {
		return ""
	}
	return strings.Join(f.c.Roles, ",")
}

func (f rolesFlag) Set(v string) error { f.c.Roles = parseRoles(v); return nil }

// bindFlags registers the serve flags over c.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP API and dashboard address (EVENTLINE_HTTP_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "embedded JetStream store and managed PostgreSQL cluster (EVENTLINE_DATA_DIR)")
	fs.StringVar(&c.NATSURL, "nats-url", c.NATSURL, "external NATS URL(s); empty runs an embedded server (NATS_URL)")
	fs.StringVar(&c.NATSCreds, "nats-creds", c.NATSCreds, "NATS credentials file for the external server (NATS_CREDS)")
	fs.StringVar(&c.NATSListen, "nats-listen", c.NATSListen, "where the embedded NATS server listens (EVENTLINE_NATS_LISTEN)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "external PostgreSQL URL; empty runs a managed cluster (DATABASE_URL)")
	fs.StringVar(&c.NATSSync, "nats-sync", c.NATSSync, "embedded JetStream disk sync: interval or always (EVENTLINE_NATS_SYNC)")
	fs.StringVar(&c.GroupCommit, "nats-group-commit", c.GroupCommit, "appends arriving together share one atomic batch: auto (on with an embedded server and sync always), on or off (EVENTLINE_NATS_GROUP_COMMIT)")
	fs.StringVar(&c.APIToken, "api-token", c.APIToken, "bearer token required on /api/ (EVENTLINE_API_TOKEN)")
	fs.StringVar(&c.ProcessID, "process-id", c.ProcessID, "this process's id in logs, metrics, application_name and NATS names: [A-Za-z0-9_-]{1,64} (EVENTLINE_PROCESS_ID)")
	fs.Var(rolesFlag{c}, "roles", "comma list of api,projector,saga,sync or all (EVENTLINE_ROLES)")
	fs.IntVar(&c.ProjectionBatch, "projection-batch", c.ProjectionBatch, "events per projection transaction (EVENTLINE_PROJECTION_BATCH)")
	fs.IntVar(&c.StreamReplicas, "stream-replicas", c.StreamReplicas, "replicas of every stream, 1..5; an existing stream is never lowered (EVENTLINE_STREAM_REPLICAS)")
	fs.DurationVar(&c.ProjectionWait, "projection-wait", c.ProjectionWait, "how long a projection batch waits to fill (EVENTLINE_PROJECTION_WAIT)")
	fs.DurationVar(&c.ProjectionWaitInPlace, "projection-wait-in-place", c.ProjectionWaitInPlace, "the same for projections updated in place (sagas, orders, workflows); 0: 5 × projection-wait (EVENTLINE_PROJECTION_WAIT_IN_PLACE)")
	c.bindSyncFlags(fs)
	c.bindSagaFlags(fs)
	c.bindSecurityFlags(fs)
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("EVENTLINE_HTTP_ADDR %q: %v", c.HTTPAddr, err))
	}
	if c.NATSURL == "" {
		if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
			errs = append(errs, fmt.Errorf("EVENTLINE_NATS_LISTEN %q: %v", c.NATSListen, err))
		}
	}
	if c.NATSCreds != "" {
		if c.NATSURL == "" {
			errs = append(errs, errors.New("NATS_CREDS is for an external server: set NATS_URL too (the embedded server's credentials are generated in the data dir)"))
		} else if f, err := os.Open(c.NATSCreds); err != nil {
			errs = append(errs, fmt.Errorf("NATS_CREDS: %w", err))
		} else {
			f.Close()
		}
	}
	if c.DataDir == "" && (c.NATSURL == "" || c.DatabaseURL == "") {
		errs = append(errs, errors.New("EVENTLINE_DATA_DIR must not be empty when NATS or PostgreSQL is embedded"))
	}
	if c.NATSSync != "interval" && c.NATSSync != "always" {
		errs = append(errs, fmt.Errorf("EVENTLINE_NATS_SYNC %q: must be interval or always", c.NATSSync))
	}
	if c.GroupCommit != "auto" && c.GroupCommit != "on" && c.GroupCommit != "off" {
		errs = append(errs, fmt.Errorf("EVENTLINE_NATS_GROUP_COMMIT %q: must be auto, on or off", c.GroupCommit))
	}
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("EVENTLINE_ROLES: at least one role is needed"))
	}
	for _, r := range c.Roles {
		if !slices.Contains(knownRoles, r) {
			errs = append(errs, fmt.Errorf("EVENTLINE_ROLES: unknown role %q (known: %s, all)", r, strings.Join(knownRoles, ",")))
		}
	}
	if c.ProjectionBatch < 1 || c.ProjectionBatch > 10000 {
		errs = append(errs, fmt.Errorf("EVENTLINE_PROJECTION_BATCH %d: must be 1..10000", c.ProjectionBatch))
	}
	if c.ProjectionWait <= 0 {
		errs = append(errs, fmt.Errorf("EVENTLINE_PROJECTION_WAIT %v: must be positive", c.ProjectionWait))
	}
	if c.ProjectionWaitInPlace < 0 {
		errs = append(errs, fmt.Errorf("EVENTLINE_PROJECTION_WAIT_IN_PLACE %v: must be positive, or 0 for 5 × EVENTLINE_PROJECTION_WAIT", c.ProjectionWaitInPlace))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("EVENTLINE_STREAM_REPLICAS %d: must be 1..5", c.StreamReplicas))
	}
	if !processIDPattern.MatchString(c.ProcessID) {
		errs = append(errs, fmt.Errorf("EVENTLINE_PROCESS_ID %q: must be 1..64 of A-Z a-z 0-9 _ -", c.ProcessID))
	}
	errs = append(errs, c.validateSync()...)
	errs = append(errs, c.validateSaga()...)
	errs = append(errs, c.validateLogs()...)
	errs = append(errs, c.validateSecurity()...)
	return errors.Join(errs...)
}

func (c Config) hasRole(r string) bool { return slices.Contains(c.Roles, r) }

func (c Config) natsDir() string { return filepath.Join(c.DataDir, "nats") }
func (c Config) pgDir() string   { return filepath.Join(c.DataDir, "pg") }

// natsClientURL is where CLI commands find NATS: NATS_URL, or the embedded
// server of a running `eventline serve`.
func (c Config) natsClientURL() string {
	if c.NATSURL != "" {
		return c.NATSURL
	}
	return "nats://" + c.NATSListen
}
