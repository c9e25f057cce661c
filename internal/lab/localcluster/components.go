package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// controllers are the kube-controller-manager controllers a local cluster runs.
var controllers = []string{
	"deployment-controller",
	"replicaset-controller",
	"statefulset-controller",
	"horizontal-pod-autoscaler-controller",
	"serviceaccount-controller",
	"serviceaccount-token-controller",
	"garbage-collector-controller",
	"namespace-controller",
	"root-ca-certificate-publisher-controller",
}

// readyCheck is a component's readiness probe: nil once ready.
type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

// startEtcd starts etcd, waits until it is healthy and returns its client URL.
func (c *Cluster) startEtcd(ctx context.Context) (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	_, err = c.run(Etcd,
		"--name=local",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	if err != nil {
		return "", err
	}
	health := httpGetOK(http.DefaultClient, clientURL+"/health")
	return clientURL, c.waitAll(ctx, []readyCheck{{Etcd, health}})
}

// startAPIServer starts kube-apiserver and waits until /readyz answers ok.
func (c *Cluster) startAPIServer(ctx context.Context, etcdURL string) error {
	p := c.pki
	port := c.host[strings.LastIndexByte(c.host, ':')+1:]
	_, err := c.run(APIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+port,
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(c.dir, "apiserver"),
		"--tls-cert-file="+p.path("apiserver.crt"),
		"--tls-private-key-file="+p.path("apiserver.key"),
		"--client-ca-file="+p.path("ca.crt"),
		"--service-cluster-ip-range="+serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+p.path("sa.pub"),
		"--service-account-signing-key-file="+p.path("sa.key"),
		"--authorization-mode=Node,RBAC",
		"--disable-admission-plugins=TaintNodesByCondition",
		"--allow-privileged=true",
		"--profiling=false",
		"--requestheader-client-ca-file="+p.path("front-proxy-ca.crt"),
		"--requestheader-allowed-names="+frontProxyUser,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file="+p.path("front-proxy-client.crt"),
		"--proxy-client-key-file="+p.path("front-proxy-client.key"),
	)
	if err != nil {
		return err
	}
	hc, err := c.adminHTTP()
	if err != nil {
		return err
	}
	return c.waitAll(ctx, []readyCheck{{APIServer, httpGetOK(hc, c.host+"/readyz")}})
}

// startControllerManager starts kube-controller-manager. It is ready when its
// /healthz answers ok and the default ServiceAccount exists (pods are refused
// without it).
func (c *Cluster) startControllerManager() (readyCheck, error) {
	o := c.opts
	healthz, err := c.startServing(ControllerManager, "controller-manager",
		"--controllers="+strings.Join(controllers, ","),
		"--use-service-account-credentials=true",
		"--service-account-private-key-file="+c.pki.path("sa.key"),
		"--root-ca-file="+c.pki.path("ca.crt"),
		"--kube-api-qps=100",
		"--kube-api-burst=200",
		"--horizontal-pod-autoscaler-sync-period="+c.HPASyncPeriod().String(),
		"--horizontal-pod-autoscaler-downscale-stabilization="+o.compress(5*time.Minute, time.Second).String(),
		"--horizontal-pod-autoscaler-cpu-initialization-period="+o.compress(5*time.Minute, time.Second).String(),
		"--horizontal-pod-autoscaler-initial-readiness-delay="+o.compress(30*time.Second, time.Second).String(),
	)
	if err != nil {
		return readyCheck{}, err
	}
	return readyCheck{ControllerManager, func(ctx context.Context) error {
		if err := healthz(ctx); err != nil {
			return err
		}
		return c.client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{})
	}}, nil
}

// startScheduler starts kube-scheduler; it is ready when /healthz answers ok.
func (c *Cluster) startScheduler() (readyCheck, error) {
	healthz, err := c.startServing(Scheduler, "scheduler")
	return readyCheck{Scheduler, healthz}, err
}

// startServing starts a component that uses the kubeconfig of the given name
// and serves /healthz on a free loopback port (controller-manager,
// scheduler), and returns its health check.
func (c *Cluster) startServing(name, kubeconfig string, extra ...string) (func(context.Context) error, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{
		"--kubeconfig=" + c.path(kubeconfig),
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(c.dir, kubeconfig),
		"--leader-elect=false",
	}, extra...)
	if _, err := c.run(name, args...); err != nil {
		return nil, err
	}
	return httpGetOK(insecureHTTP(), "https://127.0.0.1:"+strconv.Itoa(port)+"/healthz"), nil
}

// startKwok starts kwok with the embedded stages; it is ready when every fake
// node is Ready.
func (c *Cluster) startKwok() (readyCheck, error) {
	home := filepath.Join(c.dir, "kwok")
	stages := filepath.Join(c.dir, "kwok-stages.yaml")
	if err := writeKwokStages(stages); err != nil {
		return readyCheck{}, err
	}
	// HOME keeps kwok from loading ~/.kwok/kwok.yaml.
	_, err := c.runEnv(Kwok, []string{"HOME=" + home},
		"--kubeconfig="+c.path("kwok"),
		"--config="+stages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+FakeNodeAnnotation+"="+FakeNodeValue,
		"--cidr="+podCIDR,
		"--node-ip=127.0.0.1",
	)
	if err != nil {
		return readyCheck{}, err
	}
	return readyCheck{Kwok, c.fakeNodesReady}, nil
}

// startPrometheus writes the configuration and starts Prometheus.
func (c *Cluster) startPrometheus() error {
	dir := c.promDir()
	if err := writePrometheusConfig(dir, c.opts.Prometheus, c.kubeconfig); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c.promURL = "http://" + addr
	_, err = c.run(Prometheus,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1d",
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	return err
}

// appendStarted runs start and appends the readiness check it returns.
func (c *Cluster) appendStarted(checks []readyCheck, start func() (readyCheck, error)) ([]readyCheck, error) {
	rc, err := start()
	if err != nil {
		return checks, err
	}
	return append(checks, rc), nil
}

// waitAll polls the checks in parallel until all pass, recording when each
// component became ready. It fails early when a started process exits.
func (c *Cluster) waitAll(ctx context.Context, checks []readyCheck) error {
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, rc := range checks {
		wg.Go(func() { errs[i] = c.waitReady(ctx, rc) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitReady polls one check.
func (c *Cluster) waitReady(ctx context.Context, rc readyCheck) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := rc.check(ctx)
		if err == nil {
			c.markReady(rc.name)
			return nil
		}
		if exited := c.exitedProcess(); exited != nil {
			return fmt.Errorf("waiting for %s: %w", rc.name, exited.exitError())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %v)", rc.name, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// exitedProcess returns a component that has exited, if any.
func (c *Cluster) exitedProcess() *process {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range c.order {
		if p := c.procs[name]; p.exited() {
			return p
		}
	}
	return nil
}

// httpGetOK returns a check that passes when GET url answers 200.
func httpGetOK(hc *http.Client, url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// insecureHTTP is a client for the components' self-signed health endpoints
// on loopback.
func insecureHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health checks
	}}
}

// adminHTTP is an HTTP client that authenticates as the admin.
func (c *Cluster) adminHTTP() (*http.Client, error) {
	cert, err := c.pki.clients[adminUser].tlsCertificate()
	if err != nil {
		return nil, err
	}
	pool := c.pki.caPool()
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12},
	}}, nil
}
