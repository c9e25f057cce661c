package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL and Redis are the real database and cache of the lab's real
// service. Both come from the machine's packages (Debian's postgresql and
// redis-server; .ci/run installs them) and run, as the cluster's components
// do, as child processes in their own process group with a parent-death
// signal, in a temporary directory removed at Stop. PostgreSQL refuses to run
// as root: when this process is root, it runs as the postgres user in a
// directory owned by that user.

// dbStopGrace is how long PostgreSQL and Redis get after SIGTERM: both stop
// in well under a second (PostgreSQL's backends end on the same signal).
const dbStopGrace = 5 * time.Second

// Names of the database processes, as used in the log file names.
const (
	Postgres = "postgres"
	Redis    = "redis-server"
)

// PostgresOptions configure a PostgreSQL server.
type PostgresOptions struct {
	// BinDir holds initdb and postgres. Empty: the newest
	// /usr/lib/postgresql/<version>/bin.
	BinDir string
	// LogDir receives postgres.log. Empty: the server's directory.
	LogDir string
	// MaxConnections is the server's max_connections. Zero: 100.
	MaxConnections int
	// Role is the service's login role; Database is owned by it. Empty:
	// "app" for both.
	Role, Database string
	// RoleConnectionLimit is the role's CONNECTION LIMIT: the connection
	// budget, which PostgreSQL enforces by refusing the connection beyond it.
	// Zero or negative: no limit.
	RoleConnectionLimit int
	// Items is the number of rows of the table items (id 1..Items, a value
	// each) that the service reads.
	Items int
	// StartTimeout bounds initdb, the start and the seeding. Zero: 1 minute.
	StartTimeout time.Duration
}

// PostgresServer is a running PostgreSQL server.
type PostgresServer struct {
	opts PostgresOptions
	dir  string
	port int
	proc *process
}

// StartPostgres initialises a database cluster in a new temporary directory,
// starts the server on a free loopback port, creates the role (with its
// connection limit), its database and the items table, and returns once the
// role can connect. On error, everything started is stopped and removed.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*PostgresServer, error) {
	if opts.BinDir == "" {
		dir, err := postgresBinDir()
		if err != nil {
			return nil, err
		}
		opts.BinDir = dir
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 100
	}
	if opts.Role == "" {
		opts.Role = "app"
	}
	if opts.Database == "" {
		opts.Database = opts.Role
	}
	if !identifier.MatchString(opts.Role) || !identifier.MatchString(opts.Database) {
		return nil, fmt.Errorf("role %q and database %q must be lower-case SQL identifiers", opts.Role, opts.Database)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	cred, owner, err := postgresUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "navius-postgres-")
	if err != nil {
		return nil, err
	}
	s := &PostgresServer{opts: opts, dir: dir}
	if err := s.start(ctx, cred, owner); err != nil {
		return nil, errors.Join(fmt.Errorf("starting PostgreSQL in %s: %w", dir, err), s.Stop())
	}
	return s, nil
}

// identifier is what StartPostgres accepts as a role or database name, so
// that it can be written into SQL unquoted.
var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func (s *PostgresServer) start(ctx context.Context, cred *syscall.Credential, owner *user.User) error {
	if owner != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	logDir := s.opts.LogDir
	if logDir == "" {
		logDir = s.dir
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(s.opts.BinDir, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.Dir = s.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	// Durability is not what the lab measures: no fsync, no full pages.
	s.proc, err = startProcessAs(Postgres, filepath.Join(s.opts.BinDir, "postgres"), []string{
		"-D", data,
		"-p", strconv.Itoa(port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=" + strconv.Itoa(s.opts.MaxConnections),
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB",
	}, nil, logDir, cred, s.dir)
	if err != nil {
		return err
	}
	var conn *pgx.Conn
	for {
		if conn, err = pgx.Connect(ctx, s.url("postgres", "postgres")); err == nil {
			break
		}
		if s.proc.exited() {
			return s.proc.exitError()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	defer func() { _ = conn.Close(context.Background()) }()
	limit := s.opts.RoleConnectionLimit
	if limit <= 0 {
		limit = -1
	}
	for _, stmt := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN CONNECTION LIMIT %d", s.opts.Role, limit),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", s.opts.Database, s.opts.Role),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	// The table is created by the superuser, whose connections do not count
	// against the role's limit, and then handed to the role.
	db, err := pgx.Connect(ctx, s.url("postgres", s.opts.Database))
	if err != nil {
		return err
	}
	defer func() { _ = db.Close(context.Background()) }()
	for _, stmt := range []string{
		"CREATE TABLE items (id bigint PRIMARY KEY, value text NOT NULL)",
		fmt.Sprintf("INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, %d) AS i", max(s.opts.Items, 0)),
		"ANALYZE items",
		"ALTER TABLE items OWNER TO " + s.opts.Role,
	} {
		if _, err := db.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", stmt, err)
		}
	}
	return nil
}

// url is a connection URL over TCP (trust authentication on loopback).
func (s *PostgresServer) url(role, database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, s.port, database)
}

// URL is the service role's connection URL to its database.
func (s *PostgresServer) URL() string { return s.url(s.opts.Role, s.opts.Database) }

// SuperuserURL connects as postgres, whose connections the role's limit
// does not count.
func (s *PostgresServer) SuperuserURL() string { return s.url("postgres", s.opts.Database) }

// Port is the server's TCP port on 127.0.0.1.
func (s *PostgresServer) Port() int { return s.port }

// LogPath is the server's log file.
func (s *PostgresServer) LogPath() string { return s.proc.logPath }

// Refusal messages of the server's log: the role's connection limit, and
// max_connections (with or without the reserved slots).
var refusals = []string{
	"too many connections for role",
	"sorry, too many clients already",
	"remaining connection slots are reserved",
}

// RefusedConnections counts the connections the server refused for lack of
// slots, from its log: beyond the role's limit or beyond max_connections.
func (s *PostgresServer) RefusedConnections() (int, error) {
	data, err := os.ReadFile(s.LogPath())
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.Contains(line, "FATAL") && slices.ContainsFunc(refusals, func(r string) bool { return strings.Contains(line, r) }) {
			n++
		}
	}
	return n, nil
}

// RoleConnections is the number of the role's connections open now
// (pg_stat_activity), read as the superuser.
func (s *PostgresServer) RoleConnections(ctx context.Context) (int, error) {
	conn, err := pgx.Connect(ctx, s.SuperuserURL())
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", s.opts.Role).Scan(&n)
	return n, err
}

// Stop stops the server (its connections are terminated) and removes its
// directory. Safe to call more than once.
func (s *PostgresServer) Stop() error {
	var errs []error
	if s.proc != nil {
		errs = append(errs, s.proc.stop(dbStopGrace))
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}

// postgresBinDir is the newest /usr/lib/postgresql/<version>/bin with initdb.
func postgresBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestVersion := "", -1.0
	for _, initdb := range dirs {
		version := filepath.Base(filepath.Dir(filepath.Dir(initdb)))
		v, err := strconv.ParseFloat(version, 64)
		if err == nil && v > bestVersion {
			best, bestVersion = filepath.Dir(initdb), v
		}
	}
	if best == "" {
		return "", errors.New("no PostgreSQL in /usr/lib/postgresql/*/bin: install Debian's postgresql package (apt-get install postgresql)")
	}
	return best, nil
}

// postgresUser is the user PostgreSQL runs as: postgres when this process is
// root (PostgreSQL refuses root), else nil (this process's user).
func postgresUser() (*syscall.Credential, *user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, nil, fmt.Errorf("PostgreSQL does not run as root and there is no postgres user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, u, nil
}
