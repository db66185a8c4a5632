package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// CredentialsFileName is the file in the cluster's directory that holds the
// generated passwords, readable by the user that runs Eventline only (0600).
const CredentialsFileName = "eventline-credentials.json"

// AppRole is the role the application connects as: it logs in with its
// own password, is no superuser, creates no roles or databases, and owns
// its database's public schema and what is in it.
const AppRole = "eventline"

// hbaConf lets in only clients that know a generated password (SCRAM),
// over loopback TCP or the Unix socket (which lives in the 0700 data dir).
const hbaConf = `# Written by eventline: only the generated passwords (SCRAM) get in.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
`

// credentials are the generated passwords of a managed cluster.
type credentials struct {
	Superuser string `json:"superuser_password"`
	App       string `json:"app_password"`
}

func newCredentials() (credentials, error) {
	su, err := randomPassword()
	if err != nil {
		return credentials{}, err
	}
	app, err := randomPassword()
	if err != nil {
		return credentials{}, err
	}
	return credentials{Superuser: su, App: app}, nil
}

func randomPassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a postgres password: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// readCredentials reads dir's credentials file.
func readCredentials(dir string) (credentials, error) {
	var cr credentials
	path := filepath.Join(dir, CredentialsFileName)
	st, err := os.Stat(path)
	if err != nil {
		return cr, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return cr, fmt.Errorf("postgres credentials %s may be read by group or others (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return cr, err
	}
	if err := json.Unmarshal(b, &cr); err != nil || cr.Superuser == "" || cr.App == "" {
		return cr, fmt.Errorf("postgres credentials %s are unreadable", filepath.Join(dir, CredentialsFileName))
	}
	return cr, nil
}

// writeCredentials writes the credentials file into dir (0600, owned by
// the user running Eventline), replacing it atomically.
func writeCredentials(dir string, cr credentials) error {
	b, err := json.Marshal(cr)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, CredentialsFileName+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write postgres credentials: %w", err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("write postgres credentials: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, CredentialsFileName)); err != nil {
		return fmt.Errorf("write postgres credentials: %w", err)
	}
	return nil
}

// loadCredentials reads the cluster's credentials. A cluster made before
// they existed (it trusted every local connection) gets new ones, written
// before anything uses them; closeAuth then sets them and closes pg_hba.conf.
func (c *Cluster) loadCredentials() error {
	cr, err := readCredentials(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		if cr, err = newCredentials(); err == nil {
			err = writeCredentials(c.Dir, cr)
		}
	}
	if err != nil {
		return err
	}
	c.creds = cr
	return nil
}

// writePwFile writes the superuser's password where initdb (run as the
// postgres user) reads it; the caller removes it.
func (c *Cluster) writePwFile(path string) error {
	if err := os.WriteFile(path, []byte(c.creds.Superuser+"\n"), 0o600); err != nil {
		return fmt.Errorf("write initdb password file: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(path, c.uid, c.gid); err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("chown initdb password file: %w", err)
		}
	}
	return nil
}

// closeAuth, run as the superuser, sets both generated passwords and makes
// the application role (no superuser, no CREATEDB or CREATEROLE).
func (c *Cluster) closeAuth(ctx context.Context, conn *pgx.Conn) error {
	lit := func(s string) string { return "'" + s + "'" } // hex: nothing to escape
	role := pgx.Identifier{AppRole}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, AppRole).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", AppRole, err)
	}
	stmts := []string{`ALTER ROLE postgres PASSWORD ` + lit(c.creds.Superuser)}
	if !exists {
		stmts = append(stmts, `CREATE ROLE `+role)
	}
	stmts = append(stmts, `ALTER ROLE `+role+` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD `+lit(c.creds.App))
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("set up postgres roles: %w", err)
		}
	}
	return nil
}

// ownSchema, run as the superuser in the application's database, gives the
// application role its public schema and every object in it, and takes
// the right to connect from everybody else.
func ownSchema(ctx context.Context, conn *pgx.Conn, db string) error {
	role := pgx.Identifier{AppRole}.Sanitize()
	dbi := pgx.Identifier{db}.Sanitize()
	stmts := []string{
		`REVOKE ALL ON DATABASE ` + dbi + ` FROM PUBLIC`,
		`GRANT CONNECT, TEMPORARY ON DATABASE ` + dbi + ` TO ` + role,
		`REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
		`ALTER SCHEMA public OWNER TO ` + role,
		// The logs' search index (migration 00015) needs pg_trgm, which
		// the application role may not create.
		`CREATE EXTENSION IF NOT EXISTS pg_trgm`,
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("give %s its schema: %w", AppRole, err)
		}
	}
	// Tables (their indexes and serial sequences follow), views, then
	// sequences of their own, that the role does not own yet.
	for _, kind := range []struct{ relkinds, alter string }{
		{"{r,p,f}", "TABLE"}, {"{v}", "VIEW"}, {"{m}", "MATERIALIZED VIEW"}, {"{S}", "SEQUENCE"},
	} {
		rows, err := conn.Query(ctx, `
			SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = 'public' AND c.relkind = ANY($1::"char"[])
			  AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $2)
			  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))`,
			kind.relkinds, AppRole)
		if err != nil {
			return fmt.Errorf("list objects to hand to %s: %w", AppRole, err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list objects to hand to %s: %w", AppRole, err)
		}
		for _, n := range names {
			if _, err := conn.Exec(ctx, `ALTER `+kind.alter+` public.`+pgx.Identifier{n}.Sanitize()+` OWNER TO `+role); err != nil {
				return fmt.Errorf("give %s to %s: %w", n, AppRole, err)
			}
		}
	}
	return nil
}

// closeHBA writes pg_hba.conf when it differs from hbaConf and reloads
// the server's configuration through conn (a superuser's connection).
func (c *Cluster) closeHBA(ctx context.Context, conn *pgx.Conn) error {
	path := filepath.Join(c.Dir, "pg_hba.conf")
	if old, err := os.ReadFile(path); err == nil && string(old) == hbaConf {
		return nil
	}
	// Truncating keeps the file's owner (postgres) and mode.
	if err := os.WriteFile(path, []byte(hbaConf), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(path, c.uid, c.gid); err != nil {
			return fmt.Errorf("chown pg_hba.conf: %w", err)
		}
	}
	if _, err := conn.Exec(ctx, `SELECT pg_reload_conf()`); err != nil {
		return fmt.Errorf("reload pg_hba.conf: %w", err)
	}
	// The postmaster reloads it when it handles the signal: wait until a
	// client without a password is refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		probe, err := pgx.Connect(ctx, c.dsn("postgres", "", "postgres")+"&connect_timeout=2")
		if err != nil {
			return nil
		}
		_ = probe.Close(ctx)
		if time.Now().After(deadline) {
			return errors.New("postgres still trusts local connections after reloading pg_hba.conf")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// AppURLOf is the application role's connection string for the cluster in
// dir listening on port (the database "eventline"), from its credentials
// file; for tools and tests that find a running cluster by its directory.
func AppURLOf(dir string, port int) (string, error) {
	cr, err := readCredentials(dir)
	if err != nil {
		return "", fmt.Errorf("managed postgres credentials: %w", err)
	}
	c := &Cluster{Dir: dir, Port: port, database: "eventline", creds: cr}
	return c.AppURL(), nil
}

// dsn is a connection URL for user with password to database db.
func (c *Cluster) dsn(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		Host:     "127.0.0.1:" + strconv.Itoa(c.Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String()
}
