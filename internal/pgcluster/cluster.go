package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	Reused    bool
	binDir    string
	database  string
	ephemeral bool
	cred      *syscall.Credential
	uid, gid  int
	// creds are the generated passwords (CredentialsFileName).
	creds credentials

	// mu serialises starting and stopping the server: a restart by the
	// supervisor and a deliberate Stop never run at once, and after Stop
	// nothing starts the server again.
	mu      sync.Mutex
	stopped bool
}

// ErrStopped is returned by Restart once Stop has been called.
var ErrStopped = errors.New("managed postgres was stopped")

// launchGrace is how long a cancelled start waits for pg_ctl to report on
// the server it launched before killing it and stopping the server itself.
const launchGrace = 15 * time.Second

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
// and makes sure the database exists. When ctx ends or a step fails, Start
// leaves nothing running that it started: an interrupted initdb leaves no
// half-made cluster behind and a server it launched is stopped.
func Start(ctx context.Context, dir string, o Options) (_ *Cluster, err error) {
	bin := o.BinDir
	if bin == "" {
		if bin, err = FindBinDir(); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("postgres data dir: %w", err)
	}
	c := &Cluster{Dir: abs, binDir: bin, database: o.Database, ephemeral: o.Ephemeral}
	if c.database == "" {
		c.database = "eventline"
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	if !isFile(filepath.Join(abs, "PG_VERSION")) {
		if c.creds, err = newCredentials(); err != nil {
			return nil, err
		}
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	} else if err := c.loadCredentials(); err != nil {
		return nil, err
	}
	if port, ok := c.runningPort(ctx); ok {
		c.Port = port
		c.Reused = true
	} else {
		if err = c.launchOnFreePort(ctx); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				c.stopLaunched()
			}
		}()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
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

// command prepares a PostgreSQL program in a process group of its own; when
// ctx ends the whole group gets SIGTERM (initdb then removes what it made),
// and SIGKILL if it has not exited 10 s later.
func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.cred != nil {
		cmd.SysProcAttr.Credential = c.cred
		cmd.Env = append(cmd.Env, "HOME="+c.Dir, "USER=postgres")
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// initdb creates the cluster in a sibling directory and moves it into place
// only once it is complete, so that an interrupted initdb never leaves a
// directory that looks like a cluster but cannot start.
func (c *Cluster) initdb(ctx context.Context) error {
	tmp := c.Dir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove an interrupted initdb: %w", err)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return fmt.Errorf("create initdb dir: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(tmp, c.uid, c.gid); err != nil {
			return fmt.Errorf("chown initdb dir: %w", err)
		}
	}
	// The superuser's password reaches initdb through a file beside the
	// new cluster (initdb wants an empty directory), removed at once.
	pwFile := c.Dir + ".pwfile"
	if err := c.writePwFile(pwFile); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	args := []string{"-D", tmp, "-U", "postgres", "--auth=scram-sha-256", "--pwfile=" + pwFile, "-E", "UTF8", "--locale=C"}
	if c.ephemeral {
		args = append(args, "--no-sync")
	}
	out, err := c.command(ctx, "initdb", args...).CombinedOutput()
	_ = os.Remove(pwFile)
	if ctx.Err() != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("initdb %s: %w", c.Dir, ctx.Err())
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("initdb %s: %w: %s", c.Dir, err, lastLines(out, 5))
	}
	// The passwords are in the cluster before it is moved into place: a
	// cluster without them is never left behind.
	if err := writeCredentials(tmp, c.creds); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	// prepareDir made c.Dir; it is empty (it holds no PG_VERSION), and
	// rename needs it gone.
	if err := os.Remove(c.Dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("postgres data dir %s is not empty and holds no cluster: %w", c.Dir, err)
	}
	if err := os.Rename(tmp, c.Dir); err != nil {
		return fmt.Errorf("move the new cluster into place: %w", err)
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
	if cr, err := readCredentials(dir); err == nil {
		c.creds = cr
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
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

// errPortTaken reports that postgres could not bind its port: another
// process took it between FreePort and the server's start.
var errPortTaken = errors.New("the port was taken before postgres bound it")

// freePort is FreePort; tests replace it to hand out a taken port.
var freePort = FreePort

// launchOnFreePort launches the server on a port FreePort picks, and on a
// new one when another process took that one first (up to three ports).
func (c *Cluster) launchOnFreePort(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fmt.Errorf("pick a port for postgres: %w", err)
		}
		c.Port = port
		err = c.launch(ctx)
		if err == nil || attempt == 3 || !errors.Is(err, errPortTaken) {
			return err
		}
	}
}

// serverOptions are the postgres options the server runs with on c.Port.
func (c *Cluster) serverOptions() string {
	// wal_level minimal: the cluster holds read models rebuilt from the log,
	// not a database to replicate or restore to a point in time; tables a
	// transaction creates and fills (a projection rebuild's shadow) then
	// skip the WAL. Crash safety is unchanged.
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200 -c wal_level=minimal -c max_wal_senders=0 -c password_encryption=scram-sha-256", c.Port, c.Dir)
	if c.ephemeral {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	return opts
}

// launch starts the server on c.Port with pg_ctl and waits until it accepts
// connections. pg_ctl is not killed when ctx ends: the postmaster it
// launches runs in a session of its own and would be orphaned. Instead a
// cancelled launch waits for pg_ctl (at most launchGrace), then stops the
// server it launched. A failed launch stops it too.
func (c *Cluster) launch(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if c.Alive() {
		// Never stop (on failure) a server this call did not launch.
		return fmt.Errorf("start postgres: a server (pid %d) already runs in %s but does not answer on port %d", c.PID(), c.Dir, c.Port)
	}
	logFile := filepath.Join(c.Dir, "postgres.log")
	var logStart int64 // what this launch logs starts there
	if st, err := os.Stat(logFile); err == nil {
		logStart = st.Size()
	}
	cmd := c.command(context.WithoutCancel(ctx), "pg_ctl", "start", "-D", c.Dir, "-l", logFile, "-w", "-t", "60", "-o", c.serverOptions())
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		t := time.NewTimer(launchGrace)
		select {
		case <-done:
		case <-t.C:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		t.Stop()
		c.stopLaunched()
		return fmt.Errorf("start postgres: %w", ctx.Err())
	}
	if err != nil {
		c.stopLaunched()
		log, _ := os.ReadFile(logFile)
		if int64(len(log)) >= logStart {
			log = log[logStart:]
		}
		if bytes.Contains(log, []byte("Address already in use")) {
			err = fmt.Errorf("%w (port %d): %w", errPortTaken, c.Port, err)
		}
		return fmt.Errorf("start postgres: %w: %s %s", err, lastLines([]byte(out.String()), 3), lastLines(log, 5))
	}
	return nil
}

// stopLaunched stops a server that runs in the directory, if any, whatever
// state it is in (starting, running); a fast shutdown, then an immediate one.
func (c *Cluster) stopLaunched() {
	if !c.Alive() {
		return
	}
	if err := c.pgCtlStop("fast"); err != nil && c.Alive() {
		_ = c.pgCtlStop("immediate")
	}
}

// StartAgain starts a stopped cluster on the same port (for restart tests).
func (c *Cluster) StartAgain(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = false
	if err := c.launch(ctx); err != nil {
		return fmt.Errorf("restart postgres: %w", err)
	}
	return nil
}

// Restart starts the server again on the same port after it died; it
// returns ErrStopped once Stop has been called, so that it never undoes a
// deliberate shutdown.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return ErrStopped
	}
	if c.Alive() {
		return nil
	}
	return c.launch(ctx)
}

// PID returns the postmaster's pid from postmaster.pid (0 when absent).
func (c *Cluster) PID() int {
	b, err := os.ReadFile(filepath.Join(c.Dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// Alive reports whether the postmaster named by postmaster.pid is running
// (and, where /proc tells, runs in this directory: a stale pid file's pid
// may have been reused by another cluster's process).
func (c *Cluster) Alive() bool {
	pid := c.PID()
	if pid <= 0 || !processAlive(pid) {
		return false
	}
	cwd, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/cwd")
	if err != nil {
		return true
	}
	dir, err := filepath.EvalSymlinks(c.Dir)
	return err != nil || cwd == dir
}

// processAlive reports whether pid is a running postgres process: a zombie
// (killed, not yet reaped) is dead, and so is a process that reused the pid
// of a stale postmaster.pid.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !os.IsNotExist(err) // no /proc: trust kill
	}
	lp, rp := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
	if lp < 0 || rp < lp {
		return true
	}
	comm, state := string(stat[lp+1:rp]), strings.TrimSpace(string(stat[rp+1:]))
	return comm == "postgres" && !strings.HasPrefix(state, "Z")
}

// ensureDatabase sets the generated passwords and the application role,
// creates the database, gives the role its schema, and only then closes
// pg_hba.conf (an older cluster trusted every local connection, and has
// no password to log in with until this ran).
func (c *Cluster) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to managed postgres: %w", err)
	}
	defer conn.Close(ctx)
	if err := c.closeAuth(ctx, conn); err != nil {
		return err
	}
	if err := CreateDatabase(ctx, conn, c.database); err != nil {
		return err
	}
	dbConn, err := pgx.Connect(ctx, c.URL(c.database))
	if err != nil {
		return fmt.Errorf("connect to managed postgres: %w", err)
	}
	defer dbConn.Close(ctx)
	if err := ownSchema(ctx, dbConn, c.database); err != nil {
		return err
	}
	return c.closeHBA(ctx, conn)
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

// URL is a connection string for database db of the cluster as the
// superuser, with its generated password: for administration and tests.
// The application connects with AppURL.
func (c *Cluster) URL(db string) string {
	if db == "" {
		db = c.database
	}
	return c.dsn("postgres", c.creds.Superuser, db)
}

// AppURL is a connection string for the cluster's database as AppRole
// (no superuser), with its generated password.
func (c *Cluster) AppURL() string {
	return c.dsn(AppRole, c.creds.App, c.database)
}

// Stop shuts the server down (fast mode: open transactions roll back). After
// Stop, Restart does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	return c.pgCtlStop("fast")
}

func (c *Cluster) pgCtlStop(mode string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.Dir, "-m", mode, "-w").CombinedOutput()
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
