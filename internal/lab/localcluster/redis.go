package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions configure a Redis server.
type RedisOptions struct {
	// Binary is redis-server. Empty: redis-server on PATH.
	Binary string
	// LogDir receives redis-server.log. Empty: the server's directory.
	LogDir string
	// StartTimeout bounds the start. Zero: 30 seconds.
	StartTimeout time.Duration
}

// RedisServer is a running Redis server without persistence.
type RedisServer struct {
	dir  string
	port int
	proc *process
}

// StartRedis starts redis-server on a free loopback port in a new temporary
// directory and returns once it answers PING. On error, everything started
// is stopped and removed.
func StartRedis(ctx context.Context, opts RedisOptions) (*RedisServer, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			return nil, fmt.Errorf("no redis-server on PATH: install Debian's redis-server package: %w", err)
		}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "navius-redis-")
	if err != nil {
		return nil, err
	}
	s := &RedisServer{dir: dir}
	if err := s.start(ctx, bin, opts.LogDir); err != nil {
		return nil, errors.Join(fmt.Errorf("starting Redis in %s: %w", dir, err), s.Stop())
	}
	return s, nil
}

func (s *RedisServer) start(ctx context.Context, bin, logDir string) error {
	if logDir == "" {
		logDir = s.dir
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	s.proc, err = startProcess(Redis, bin, []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
	}, nil, logDir)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer func() { _ = rdb.Close() }()
	for {
		err := rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		if s.proc.exited() {
			return s.proc.exitError()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis-server not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Addr is the server's host:port.
func (s *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL (database 0).
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Stop stops the server and removes its directory. Safe to call more than once.
func (s *RedisServer) Stop() error {
	var errs []error
	if s.proc != nil {
		errs = append(errs, s.proc.stop(dbStopGrace))
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}
