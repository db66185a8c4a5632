package pgcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries reports that no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (install them with: sudo apt-get install -y postgresql)")

// Options tunes a managed cluster.
type Options struct {
	// BinDir overrides where initdb, pg_ctl and postgres are looked up.
	BinDir string
	// Database is created when missing ("eventline" when empty).
	Database string
	// Ephemeral trades durability for speed (fsync off): for tests only.
	Ephemeral bool
}

// Cluster is a PostgreSQL cluster living in Dir.
type Cluster struct {
	Dir  string
	Port int
	// Reused is true when the server was already running (e.g. left behind
	// by a process that was killed) and Start only attached to it.
	Reused   bool
	binDir   string
	database string
	cred     *syscall.Credential
	uid, gid int
}

// FindBinDir locates PostgreSQL's server binaries: pg_config --bindir, then
// PATH, then the newest /usr/lib/postgresql/*/bin.
func FindBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if isFile(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	return "", ErrNoBinaries
}

func versionOf(initdbPath string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdbPath))))
	return v
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// Start initialises dir when it holds no cluster yet, starts PostgreSQL on a
// free loopback port unless a server from an earlier run is still up there,
// and makes sure the database exists.
func Start(ctx context.Context, dir string, o Options) (*Cluster, error) {
	bin := o.BinDir
	if bin == "" {
		var err error
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("postgres data dir: %w", err)
	}
	c := &Cluster{Dir: abs, binDir: bin, database: o.Database}
	if c.database == "" {
		c.database = "eventline"
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	if !isFile(filepath.Join(abs, "PG_VERSION")) {
		if err := c.initdb(o.Ephemeral); err != nil {
			return nil, err
		}
	}
	if port, ok := c.runningPort(ctx); ok {
		c.Port = port
		c.Reused = true
	} else {
		if err := c.start(ctx, o.Ephemeral); err != nil {
			return nil, err
		}
	}
	if err := c.ensureDatabase(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// prepareDir creates the directory and, when running as root, hands it to the
// postgres user: PostgreSQL refuses to run as root.
func (c *Cluster) prepareDir() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("create postgres data dir: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres system user to run PostgreSQL: %w", err)
	}
	c.uid, _ = strconv.Atoi(u.Uid)
	c.gid, _ = strconv.Atoi(u.Gid)
	c.cred = &syscall.Credential{Uid: uint32(c.uid), Gid: uint32(c.gid)}
	if err := os.Chown(c.Dir, c.uid, c.gid); err != nil {
		return fmt.Errorf("chown postgres data dir: %w", err)
	}
	if err := os.Chmod(c.Dir, 0o700); err != nil {
		return fmt.Errorf("chmod postgres data dir: %w", err)
	}
	// Every parent must be traversable by the postgres user.
	for p := filepath.Dir(c.Dir); p != "/"; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("postgres user cannot reach %s (mode %v): choose a data dir outside it", p, st.Mode().Perm())
		}
	}
	return nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.cred != nil {
		cmd.SysProcAttr.Credential = c.cred
		cmd.Env = append(cmd.Env, "HOME="+c.Dir, "USER=postgres")
	}
	return cmd
}

func (c *Cluster) initdb(ephemeral bool) error {
	args := []string{"-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"}
	if ephemeral {
		args = append(args, "--no-sync")
	}
	out, err := c.command(context.Background(), "initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %w: %s", c.Dir, err, lastLines(out, 5))
	}
	return nil
}

// runningPort reports the port of a server already running in the directory
// (e.g. left behind by a process that was killed) if it answers.
func (c *Cluster) runningPort(ctx context.Context) (int, bool) {
	f, err := os.Open(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 4 {
		return 0, false
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, _ := strconv.Atoi(strings.TrimSpace(lines[3]))
	if pid <= 0 || port <= 0 || syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	c.Port = port
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(pctx, c.URL("postgres"))
	if err != nil {
		return 0, false
	}
	conn.Close(pctx)
	return port, true
}

// Running attaches to the cluster another process runs in dir (an
// `eventline serve`), without starting or ever stopping it.
func Running(ctx context.Context, dir string) (*Cluster, error) {
	c := &Cluster{Dir: dir, Reused: true, database: "eventline"}
	if _, ok := c.runningPort(ctx); !ok {
		return nil, fmt.Errorf("no PostgreSQL answering for %s", dir)
	}
	return c, nil
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) start(ctx context.Context, ephemeral bool) error {
	port, err := FreePort()
	if err != nil {
		return fmt.Errorf("pick a port for postgres: %w", err)
	}
	c.Port = port
	// wal_level minimal: the cluster holds read models rebuilt from the log,
	// not a database to replicate or restore to a point in time; tables a
	// transaction creates and fills (a projection rebuild's shadow) then
	// skip the WAL. Crash safety is unchanged.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200 -c wal_level=minimal -c max_wal_senders=0", port, c.Dir)
	if ephemeral {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	logFile := filepath.Join(c.Dir, "postgres.log")
	out, err := c.command(ctx, "pg_ctl", "start", "-D", c.Dir, "-l", logFile, "-w", "-t", "60", "-o", opts).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("start postgres: %w: %s %s", err, lastLines(out, 3), lastLines(log, 5))
	}
	return nil
}

// StartAgain starts a stopped cluster on the same port (for restart tests).
func (c *Cluster) StartAgain(ctx context.Context) error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c wal_level=minimal -c max_wal_senders=0", c.Port, c.Dir)
	out, err := c.command(ctx, "pg_ctl", "start", "-D", c.Dir, "-l", filepath.Join(c.Dir, "postgres.log"), "-w", "-t", "60", "-o", opts).CombinedOutput()
	if err != nil {
		return fmt.Errorf("restart postgres: %w: %s", err, lastLines(out, 3))
	}
	return nil
}

func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to managed postgres: %w", err)
	}
	defer conn.Close(ctx)
	return CreateDatabase(ctx, conn, c.database)
}

// CreateDatabase creates name unless it exists.
func CreateDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// URL is a connection string for database db of the cluster.
func (c *Cluster) URL(db string) string {
	if db == "" {
		db = c.database
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Stop shuts the server down (fast mode: open transactions roll back).
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.Dir, "-m", "fast", "-w").CombinedOutput()
	if err != nil {
		return fmt.Errorf("stop postgres: %w: %s", err, lastLines(out, 3))
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
