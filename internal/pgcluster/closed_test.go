package pgcluster_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/eventline/eventline/internal/pgcluster"
)

// probeEnv makes the test binary a probe run as another OS user: it tries
// every way into the cluster it names and prints one line per try.
const probeEnv = "PGCLUSTER_PROBE"

// TestProbeAsAnotherUser is the probe's body; it does nothing in a normal
// run.
func TestProbeAsAnotherUser(t *testing.T) {
	spec := os.Getenv(probeEnv)
	if spec == "" {
		t.Skip("runs only as the probe of TestAnotherOSUserGetsNothing")
	}
	dir, port, _ := strings.Cut(spec, "|")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	try := func(name string, err error) {
		if err == nil {
			fmt.Printf("PROBE %s: got in\n", name)
		} else {
			fmt.Printf("PROBE %s: refused: %v\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	connect := func(dsn string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var n int
		return conn.QueryRow(ctx, `SELECT count(*) FROM pg_class`).Scan(&n)
	}
	for _, role := range []string{"postgres", "eventline"} {
		for _, db := range []string{"eventline", "postgres"} {
			try("tcp "+role+"@"+db, connect(fmt.Sprintf("postgres://%s@127.0.0.1:%s/%s?sslmode=disable&connect_timeout=5", role, port, db)))
			try("tcp "+role+"@"+db+" empty password", connect(fmt.Sprintf("postgres://%s:@127.0.0.1:%s/%s?sslmode=disable&connect_timeout=5", role, port, db)))
			try("socket "+role+"@"+db, connect(fmt.Sprintf("host=%s port=%s user=%s dbname=%s sslmode=disable connect_timeout=5", dir, port, role, db)))
		}
	}
	entries, err := os.ReadDir(dir)
	if err == nil {
		for _, e := range entries {
			_, rerr := os.ReadFile(filepath.Join(dir, e.Name()))
			try("read "+e.Name(), rerr)
		}
	}
	try("list data dir", err)
}

// TestAnotherOSUserGetsNothing starts a managed cluster, stores a row, and
// runs a probe as the nobody user: it connects nowhere (TCP or the Unix
// socket, as the superuser or the application role, with no or an empty
// password) and reads no file of the cluster's.
func TestAnotherOSUserGetsNothing(t *testing.T) {
	if os.Getenv(probeEnv) != "" {
		t.Skip("the probe itself")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a probe as another OS user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody user")
	}
	c := startCluster(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.AppURL())
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE secrets (v text); INSERT INTO secrets VALUES ('s3cret')`)
	require.NoError(t, err)
	var super, createDB, createRole bool
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&super, &createDB, &createRole))
	require.False(t, super || createDB || createRole, "the application role has powers it does not need")
	_, err = conn.Exec(ctx, `COPY (SELECT 1) TO PROGRAM 'id'`)
	require.Error(t, err, "the application role runs programs as the postgres OS user")
	_, err = conn.Exec(ctx, `CREATE SCHEMA elsewhere`)
	require.Error(t, err, "the application role creates schemas")
	require.NoError(t, conn.Close(ctx))

	out := runAsNobody(t, nobody, c.Dir+"|"+strconv.Itoa(c.Port))
	require.Contains(t, out, "PROBE tcp postgres@eventline: ", out)
	require.Contains(t, out, "PROBE list data dir: ", out)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "PROBE ") {
			require.Contains(t, line, ": refused: ", "another OS user got in:\n%s", out)
		}
	}
}

// runAsNobody runs this test binary's probe as the nobody user (from a
// copy it can execute) and returns what it printed.
func runAsNobody(t *testing.T, nobody *user.User, spec string) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "eventline-probe-*")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "probe")
	src, err := os.Open(self)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())

	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run=^TestProbeAsAnotherUser$", "-test.v", "-test.count=1")
	cmd.Dir = dir
	cmd.Env = []string{probeEnv + "=" + spec, "HOME=" + dir, "PATH=/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "probe: %s", out)
	return string(out)
}

// TestOlderTrustingClusterIsClosed starts a cluster as an older Eventline
// left it (pg_hba.conf trusting every local connection, no credentials
// file, tables owned by postgres): Start generates the passwords, closes
// pg_hba.conf and hands the tables to the application role.
func TestOlderTrustingClusterIsClosed(t *testing.T) {
	if os.Getenv(probeEnv) != "" {
		t.Skip("the probe itself")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a probe as another OS user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no nobody user")
	}
	c := startCluster(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL(""))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE old_rows (id bigserial PRIMARY KEY, v text); INSERT INTO old_rows (v) VALUES ('kept')`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, c.Stop())
	require.NoError(t, os.WriteFile(filepath.Join(c.Dir, "pg_hba.conf"), []byte("local all all trust\nhost all all 127.0.0.1/32 trust\n"), 0o600))
	require.NoError(t, os.Remove(filepath.Join(c.Dir, pgcluster.CredentialsFileName)))

	ctx2, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c2, err := pgcluster.Start(ctx2, c.Dir, pgcluster.Options{Ephemeral: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c2.Stop() })
	st, err := os.Stat(filepath.Join(c.Dir, pgcluster.CredentialsFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	app, err := pgx.Connect(ctx, c2.AppURL())
	require.NoError(t, err)
	defer app.Close(ctx)
	_, err = app.Exec(ctx, `INSERT INTO old_rows (v) VALUES ('new')`)
	require.NoError(t, err, "the application role cannot write a table an older cluster made")

	out := runAsNobody(t, nobody, c2.Dir+"|"+strconv.Itoa(c2.Port))
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "PROBE ") {
			require.Contains(t, line, ": refused: ", "another OS user got in:\n%s", out)
		}
	}
}
