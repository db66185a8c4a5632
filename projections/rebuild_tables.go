package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Suffixes of the tables and indexes a rebuild creates next to the live ones.
const (
	shadowSuffix = "__rebuild"
	oldSuffix    = "__old"
	// shadowIndexSuffix marks a shadow index until the swap gives it the
	// live index's name.
	shadowIndexSuffix = "__rb"
)

// ShadowTable is the name of the table a rebuild of live builds.
func ShadowTable(live string) string { return live + shadowSuffix }

// ShadowCheckpoint is the checkpoint name a rebuild of projection name uses.
func ShadowCheckpoint(name string) string { return name + shadowSuffix }

func oldTable(live string) string { return live + oldSuffix }

// suffixed appends suffix to name within PostgreSQL's 63-byte identifier limit.
func suffixed(name, suffix string) string {
	if len(name)+len(suffix) > 63 {
		name = name[:63-len(suffix)]
	}
	return name + suffix
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// execer runs statements: a pool, a connection or a transaction.
type execer interface {
	querier
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// liveIndex is an index of a live table that the shadow needs a copy of.
type liveIndex struct {
	name string
	// def is pg_get_indexdef's text; constraint the pg_get_constraintdef of
	// the constraint the index backs ("" for a plain index).
	def, constraint string
}

// listIndexes returns the indexes of table.
func listIndexes(ctx context.Context, tx pgx.Tx, table string) ([]liveIndex, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname, pg_get_indexdef(i.indexrelid),
			coalesce((SELECT pg_get_constraintdef(k.oid) FROM pg_constraint k
				WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p','u')), '')
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = to_regclass($1) ORDER BY c.relname`, ident(table))
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", table, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (liveIndex, error) {
		var ix liveIndex
		return ix, r.Scan(&ix.name, &ix.def, &ix.constraint)
	})
	if err != nil {
		return nil, fmt.Errorf("list indexes of %s: %w", table, err)
	}
	return out, nil
}

// createShadow drops what an interrupted rebuild may have left and creates
// the shadow of t: the live table's columns, defaults and checks, plus its
// primary key and unique constraints (needed for idempotent writes). The
// plain indexes are returned to be built after the bulk load, which is
// much faster than maintaining them row by row.
func createShadow(ctx context.Context, tx pgx.Tx, t Table) ([]liveIndex, error) {
	shadow := ShadowTable(t.Name)
	// A partitioned live table gets a shadow partitioned the same way,
	// with a partition for each of the live one's (same bounds; named
	// after the shadow, and after the live table again once swapped in:
	// renamePartitions).
	var partKey *string
	if err := tx.QueryRow(ctx, `SELECT pg_get_partkeydef(to_regclass($1))`, ident(t.Name)).Scan(&partKey); err != nil {
		return nil, fmt.Errorf("create shadow of %s: %w", t.Name, err)
	}
	partitionBy := ""
	if partKey != nil {
		partitionBy = ` PARTITION BY ` + *partKey
	}
	for _, stmt := range []string{
		`DROP TABLE IF EXISTS ` + ident(shadow),
		`DROP TABLE IF EXISTS ` + ident(oldTable(t.Name)),
		`CREATE TABLE ` + ident(shadow) + ` (LIKE ` + ident(t.Name) +
			` INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS)` + partitionBy,
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create shadow of %s: %w", t.Name, err)
		}
	}
	if partKey != nil {
		if err := createShadowPartitions(ctx, tx, t.Name); err != nil {
			return nil, err
		}
	}
	idx, err := listIndexes(ctx, tx, t.Name)
	if err != nil {
		return nil, err
	}
	var later []liveIndex
	for _, ix := range idx {
		if ix.constraint == "" {
			later = append(later, ix)
			continue
		}
		stmt := `ALTER TABLE ` + ident(shadow) + ` ADD CONSTRAINT ` + ident(suffixed(ix.name, shadowIndexSuffix)) + ` ` + ix.constraint
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("shadow constraint %s: %w", ix.name, err)
		}
	}
	return later, nil
}

// createShadowPartitions gives the shadow of a partitioned table live a
// partition for each of live's, with the same bounds.
func createShadowPartitions(ctx context.Context, tx pgx.Tx, live string) error {
	rows, err := tx.Query(ctx, `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass($1) AND NOT i.inhdetachpending ORDER BY c.relname`, ident(live))
	if err != nil {
		return fmt.Errorf("list partitions of %s: %w", live, err)
	}
	type part struct{ name, bound string }
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (part, error) {
		var p part
		return p, r.Scan(&p.name, &p.bound)
	})
	if err != nil {
		return fmt.Errorf("list partitions of %s: %w", live, err)
	}
	for _, p := range parts {
		stmt := `CREATE TABLE ` + ident(renamedPartition(p.name, live, ShadowTable(live))) + ` PARTITION OF ` +
			ident(ShadowTable(live)) + ` ` + p.bound
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("shadow partition of %s: %w", p.name, err)
		}
	}
	return nil
}

// renamedPartition is the name of partition name of table from once it
// belongs to table to: the same name with the table's name swapped, or
// suffixed when it does not start with it.
func renamedPartition(name, from, to string) string {
	if rest, ok := strings.CutPrefix(name, from); ok && rest != "" {
		return suffixed(to, rest)
	}
	return suffixed(name, "_"+to)
}

// renamePartitions gives the partitions of a shadow just swapped in as
// live the live table's names again (their old owners are dropped by now).
// A name still taken is left as it is.
func renamePartitions(ctx context.Context, db *pgxpool.Pool, live string) error {
	rows, err := db.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass($1) AND c.relname LIKE $2`, ident(live), strings.ReplaceAll(ShadowTable(live), "_", `\_`)+"%")
	if err != nil {
		return fmt.Errorf("rename partitions of %s: %w", live, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("rename partitions of %s: %w", live, err)
	}
	for _, n := range names {
		to := renamedPartition(n, ShadowTable(live), live)
		if _, err := db.Exec(ctx, `ALTER TABLE `+ident(n)+` RENAME TO `+ident(to)); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "42P07" { // taken
				continue
			}
			return fmt.Errorf("rename partition %s: %w", n, err)
		}
	}
	return nil
}

// shadowIndexDDL turns a live index definition into the same index on the
// shadow table under its temporary name.
func shadowIndexDDL(t Table, ix liveIndex) (string, error) {
	at := strings.Index(ix.def, " USING ")
	if at < 0 {
		return "", fmt.Errorf("index %s: unexpected definition %q", ix.name, ix.def)
	}
	unique := ""
	if strings.HasPrefix(ix.def, "CREATE UNIQUE INDEX") {
		unique = "UNIQUE "
	}
	return `CREATE ` + unique + `INDEX ` + ident(suffixed(ix.name, shadowIndexSuffix)) + ` ON ` +
		ident(ShadowTable(t.Name)) + ix.def[at:], nil
}

// dropShadow removes the shadow tables of spec and the shadow's checkpoint
// and parked records.
func dropShadow(ctx context.Context, db execer, spec Spec) error {
	for _, t := range spec.Tables {
		if _, err := db.Exec(ctx, `DROP TABLE IF EXISTS `+ident(ShadowTable(t.Name))); err != nil {
			return fmt.Errorf("drop shadow of %s: %w", t.Name, err)
		}
	}
	return clearShadowRecords(ctx, db, spec.Name)
}

func clearShadowRecords(ctx context.Context, db execer, name string) error {
	if _, err := db.Exec(ctx, `DELETE FROM projection_checkpoints WHERE name = $1`, ShadowCheckpoint(name)); err != nil {
		return fmt.Errorf("clear shadow checkpoint: %w", err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM projection_parked WHERE projection = $1`, ShadowCheckpoint(name)); err != nil {
		return fmt.Errorf("clear shadow parked events: %w", err)
	}
	return nil
}

// TableCompare is the comparison of one shadow table with its live table.
type TableCompare struct {
	Table      string `json:"table"`
	LiveRows   int64  `json:"live_rows"`
	ShadowRows int64  `json:"shadow_rows"`
	LiveSum    string `json:"live_checksum"`
	ShadowSum  string `json:"shadow_checksum"`
	Match      bool   `json:"match"`
	// DifferingRows, counted when the tables do not match, is how many keys
	// have a row in one table only or rows that differ in some column.
	DifferingRows int64 `json:"differing_rows,omitempty"`
}

// rowHash is the SQL expression hashing every column of t that the
// projection owns (all but t.Ignore), each with its type's own extended
// hash function (no text round trip), or through its text form for a type
// that has none (json, point).
func rowHash(ctx context.Context, q pgx.Tx, t Table) (string, error) {
	rows, err := q.Query(ctx, `SELECT a.attname, EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
			WHERE am.amname = 'hash' AND oc.opcdefault AND oc.opcintype = a.atttypid)
		FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, ident(t.Name))
	if err != nil {
		return "", fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	var cols []string
	var name string
	var hashable bool
	_, err = pgx.ForEachRow(rows, []any{&name, &hashable}, func() error {
		if slices.Contains(t.Ignore, name) {
			return nil
		}
		col := ident(name)
		if !hashable {
			col += `::text`
		}
		cols = append(cols, col)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("columns of %s: %w", t.Name, err)
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("columns of %s: none to compare (does the table exist?)", t.Name)
	}
	return `hash_record_extended(ROW(` + strings.Join(cols, ", ") + `), 0)`, nil
}

// compareTable checks that the shadow of t holds what the live table holds
// at live checkpoint upTo: the same row count and the same checksum (the
// sum of a 64-bit hash of every row's owned columns: order does not matter,
// so no sort). For an insert-only model, shadow rows written by events
// after upTo, or by events the live projection parked, are left out. The
// live table is summed on a connection of its own (live), at the same time
// as the shadow in tx: the caller holds the projection's lock, so the live
// table does not change meanwhile. shadowRows is the shadow's whole count.
// When the checksums differ, the rows that differ are counted by key.
func compareTable(ctx context.Context, tx pgx.Tx, live querier, t Table, name string, kind Kind, upTo uint64, shadowAhead bool, from uint64) (c TableCompare, shadowRows int64, err error) {
	c = TableCompare{Table: t.Name}
	hash, err := rowHash(ctx, tx, t)
	if err != nil {
		return c, 0, err
	}
	// Rows written by events the stream no longer holds (expired by its
	// retention) cannot be rebuilt: only the rest is compared.
	liveCond := `true`
	if t.Seq != "" && from > 1 {
		liveCond = ident(t.Seq) + ` >= ` + strconv.FormatUint(from, 10)
	}
	liveErr := make(chan error, 1)
	go func() {
		err := live.QueryRow(ctx, `SELECT count(*), coalesce(sum(`+hash+`), 0)::text FROM `+ident(t.Name)+` WHERE `+liveCond).Scan(&c.LiveRows, &c.LiveSum)
		if err != nil {
			err = fmt.Errorf("checksum %s: %w", t.Name, err)
		}
		liveErr <- err
	}()
	cond := `true`
	args := []any{}
	if t.Seq != "" && kind == KindInsertOnly {
		// Rows of events the live projection parked whole are left out, and
		// so are the parked items (when the key is one column, the item id).
		cond = ident(t.Seq) + ` NOT IN (SELECT seq FROM projection_parked WHERE projection = $1 AND item = '')`
		if !strings.Contains(t.Key, ",") {
			cond += ` AND (` + t.Key + `)::text NOT IN (SELECT item FROM projection_parked WHERE projection = $1 AND item <> '')`
		}
		args = append(args, name)
		if shadowAhead {
			cond += ` AND ` + ident(t.Seq) + ` <= $2`
			args = append(args, int64(upTo))
		}
	}
	q := `SELECT count(*), count(*) FILTER (WHERE ` + cond + `), coalesce(sum(` + hash + `) FILTER (WHERE ` + cond + `), 0)::text FROM ` + ident(ShadowTable(t.Name))
	err = tx.QueryRow(ctx, q, args...).Scan(&shadowRows, &c.ShadowRows, &c.ShadowSum)
	if lerr := <-liveErr; lerr != nil {
		return c, 0, lerr
	}
	if err != nil {
		return c, 0, fmt.Errorf("checksum %s: %w", ShadowTable(t.Name), err)
	}
	c.Match = c.LiveRows == c.ShadowRows && c.LiveSum == c.ShadowSum
	if !c.Match {
		// Only on a mismatch: a join of both tables on the key, far slower
		// than the sums.
		diff := `SELECT count(*) FROM (SELECT ` + t.Key + `, ` + hash + ` AS row_hash__ FROM ` + ident(t.Name) + ` WHERE ` + liveCond + `) l
			FULL JOIN (SELECT ` + t.Key + `, ` + hash + ` AS row_hash__ FROM ` + ident(ShadowTable(t.Name)) + ` WHERE ` + cond + `) s
			USING (` + t.Key + `) WHERE l.row_hash__ IS DISTINCT FROM s.row_hash__`
		if err := tx.QueryRow(ctx, diff, args...).Scan(&c.DifferingRows); err != nil {
			return c, 0, fmt.Errorf("count differing rows of %s: %w", t.Name, err)
		}
	}
	return c, shadowRows, nil
}

// plural is "1 row" or "n rows".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// swapTable renames live to its __old name and the shadow to live, with
// their indexes, so that the next rebuild's copy finds the usual names.
func swapTable(ctx context.Context, tx pgx.Tx, t Table) error {
	liveIdx, err := listIndexes(ctx, tx, t.Name)
	if err != nil {
		return err
	}
	var stmts []string
	for _, ix := range liveIdx {
		stmts = append(stmts, `ALTER INDEX `+ident(ix.name)+` RENAME TO `+ident(suffixed(ix.name, oldSuffix)))
	}
	for _, ix := range liveIdx {
		stmts = append(stmts, `ALTER INDEX IF EXISTS `+ident(suffixed(ix.name, shadowIndexSuffix))+` RENAME TO `+ident(ix.name))
	}
	stmts = append(stmts,
		`ALTER TABLE `+ident(t.Name)+` RENAME TO `+ident(oldTable(t.Name)),
		`ALTER TABLE `+ident(ShadowTable(t.Name))+` RENAME TO `+ident(t.Name))
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("swap %s: %w", t.Name, err)
		}
	}
	return nil
}

// countRows counts the rows of table.
func countRows(ctx context.Context, q querier, table string) (int64, error) {
	var n int64
	if err := q.QueryRow(ctx, `SELECT count(*) FROM `+ident(table)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", table, err)
	}
	return n, nil
}
