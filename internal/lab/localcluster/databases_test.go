package localcluster_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	. "github.com/onsi/gomega"
	"github.com/redis/go-redis/v9"

	"github.com/navius-dev/navius-tuner/internal/lab/localcluster"
)

// TestPostgresEnforcesTheBudget starts a real PostgreSQL whose role has a
// connection limit: the role gets that many connections and the next is
// refused, which the server's log counts; the items are there; Stop removes
// the directory.
func TestPostgresEnforcesTheBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	pg, err := localcluster.StartPostgres(ctx, localcluster.PostgresOptions{
		MaxConnections: 20, Role: "svc", RoleConnectionLimit: 3, Items: 1000,
	})
	g.Expect(err).NotTo(HaveOccurred())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = pg.Stop()
		}
	})
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close(context.Background())
		}
	}()
	for range 3 {
		c, err := pgx.Connect(ctx, pg.URL())
		g.Expect(err).NotTo(HaveOccurred())
		conns = append(conns, c)
	}
	var n int
	g.Expect(conns[0].QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n)).To(Succeed())
	g.Expect(n).To(Equal(1000))
	var max int
	g.Expect(conns[0].QueryRow(ctx, "SELECT current_setting('max_connections')::int").Scan(&max)).To(Succeed())
	g.Expect(max).To(Equal(20))
	g.Expect(pg.RoleConnections(ctx)).To(Equal(3))
	refused, err := pg.RefusedConnections()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(refused).To(BeZero())

	_, err = pgx.Connect(ctx, pg.URL())
	g.Expect(err).To(MatchError(ContainSubstring("too many connections for role")))
	g.Eventually(pg.RefusedConnections).Should(Equal(1), "the refusal is in the server's log")

	dir := filepath.Dir(pg.LogPath()) // without a LogDir, the log is in the server's directory
	stopped = true
	g.Expect(pg.Stop()).To(Succeed())
	_, err = os.Stat(dir)
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "Stop removes the server's directory")
}

// TestRedisServes starts redis-server, writes and reads a key with a TTL and
// stops it.
func TestRedisServes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	srv, err := localcluster.StartRedis(ctx, localcluster.RedisOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { g.Expect(srv.Stop()).To(Succeed()) }()
	opts, err := redis.ParseURL(srv.URL())
	g.Expect(err).NotTo(HaveOccurred())
	rdb := redis.NewClient(opts)
	defer func() { _ = rdb.Close() }()
	g.Expect(rdb.Set(ctx, "k", "v", time.Minute).Err()).To(Succeed())
	g.Expect(rdb.Get(ctx, "k").Result()).To(Equal("v"))
	g.Expect(rdb.TTL(ctx, "k").Val()).To(BeNumerically(">", 50*time.Second))
}
