// Package nodeagent is a small kubelet for the lab: it registers one node of
// the local cluster and runs every pod the scheduler binds to that node as a
// local process of one program, so that a Deployment of the lab runs a real
// service while kwok keeps simulating every other pod. Like a kubelet it
// resolves the container's env and envFrom (ConfigMaps, Secrets, the
// downward API's pod fields), gives each pod its own IP (a loopback address
// in 127.1.0.0/16, so that every pod can listen on the container's port), reports
// the pod Running and, once its readiness probe passes, Ready, with that IP
// in its status (so that Prometheus' pod discovery scrapes it), and when the
// pod is deleted stops the process (SIGTERM, then SIGKILL after the pod's
// grace period, at most 10 s) and removes the pod. An env change of the
// Deployment thus really restarts processes with the new values.
//
// Pods reach the node only when they tolerate its taint (Toleration) and
// select it (NodeSelector): the node has no kwok annotation, so kwok leaves
// it and its pods alone.
package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// The node's label and taint.
const (
	NodeLabel = "navius.io/node-agent"
	NodeValue = "local"
)

// NodeSelector selects the agent's node.
func NodeSelector() map[string]string { return map[string]string{NodeLabel: NodeValue} }

// Toleration lets a pod onto the agent's node.
func Toleration() corev1.Toleration {
	return corev1.Toleration{Key: NodeLabel, Operator: corev1.TolerationOpEqual, Value: NodeValue, Effect: corev1.TaintEffectNoSchedule}
}

// Options configure an Agent.
type Options struct {
	// Client is an admin clientset of the cluster.
	Client kubernetes.Interface
	// NodeName of the node to register. Empty: local-node-0.
	NodeName string
	// Binary is the program every pod's first container runs (its image is
	// not pulled; its command and args are passed to the program as args).
	Binary string
	// LogDir receives <namespace>_<pod>.log per pod. Required.
	LogDir string
	// CPU and Memory are the node's capacity. Zero: 16 cores, 64Gi.
	CPU, Memory resource.Quantity
	// Subnet is the second octet of the pods' loopback IPs (127.<Subnet>.x.y). Zero: 1.
	Subnet int
}

// Agent runs the pods bound to its node.
type Agent struct {
	opts   Options
	client kubernetes.Interface
	cancel context.CancelFunc
	done   sync.WaitGroup
	wake   chan struct{}
	lister func() []*corev1.Pod

	mu     sync.Mutex
	pods   map[string]*podProcess // by namespace/name
	nextIP int
}

// podProcess is a pod's running process.
type podProcess struct {
	uid      string
	ip       string
	cmd      *exec.Cmd
	exited   chan struct{}
	started  metav1.Time
	ready    bool
	stopping bool
}

// Start registers the node (Ready, tainted, labelled) and starts running
// its pods until Stop.
func Start(ctx context.Context, opts Options) (*Agent, error) {
	if opts.Client == nil || opts.Binary == "" || opts.LogDir == "" {
		return nil, errors.New("nodeagent: Client, Binary and LogDir are required")
	}
	if opts.NodeName == "" {
		opts.NodeName = "local-node-0"
	}
	if opts.CPU.IsZero() {
		opts.CPU = resource.MustParse("16")
	}
	if opts.Memory.IsZero() {
		opts.Memory = resource.MustParse("64Gi")
	}
	if opts.Subnet <= 0 || opts.Subnet > 255 {
		opts.Subnet = 1
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return nil, err
	}
	a := &Agent{opts: opts, client: opts.Client, wake: make(chan struct{}, 1), pods: map[string]*podProcess{}}
	if err := a.registerNode(ctx); err != nil {
		return nil, err
	}
	actx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	factory := informers.NewSharedInformerFactoryWithOptions(opts.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", opts.NodeName).String()
	}))
	inf := factory.Core().V1().Pods()
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.poke() },
		UpdateFunc: func(any, any) { a.poke() },
		DeleteFunc: func(any) { a.poke() },
	})
	if err != nil {
		cancel()
		return nil, err
	}
	factory.Start(actx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		cancel()
		return nil, errors.New("nodeagent: pod informer did not sync")
	}
	a.lister = func() []*corev1.Pod {
		objs := inf.Informer().GetStore().List()
		out := make([]*corev1.Pod, 0, len(objs))
		for _, o := range objs {
			out = append(out, o.(*corev1.Pod))
		}
		return out
	}
	a.done.Go(func() { a.loop(actx) })
	return a, nil
}

func (a *Agent) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// registerNode creates the node and reports it Ready.
func (a *Agent) registerNode(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: a.opts.CPU, corev1.ResourceMemory: a.opts.Memory,
		corev1.ResourcePods: resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.opts.NodeName, Labels: map[string]string{
			NodeLabel: NodeValue, "kubernetes.io/hostname": a.opts.NodeName, "kubernetes.io/os": "linux",
		}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: NodeLabel, Value: NodeValue, Effect: corev1.TaintEffectNoSchedule}}},
	}
	created, err := a.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("registering node %s: %w", a.opts.NodeName, err)
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "NodeAgentReady",
			Message: "the lab's node agent runs this node's pods as local processes", LastHeartbeatTime: now, LastTransitionTime: now,
		}},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: a.opts.NodeName}},
	}
	if _, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("reporting node %s Ready: %w", a.opts.NodeName, err)
	}
	return nil
}

// loop reconciles the node's pods on every pod event, and every half second
// for readiness probes and exits.
func (a *Agent) loop(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		a.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		case <-tick.C:
		}
	}
}

// sync starts the pods that have no process, probes the starting ones,
// stops the deleted ones.
func (a *Agent) sync(ctx context.Context) {
	seen := map[string]bool{}
	for _, pod := range a.lister() {
		key := pod.Namespace + "/" + pod.Name
		seen[key] = true
		a.mu.Lock()
		p := a.pods[key]
		a.mu.Unlock()
		switch {
		case pod.DeletionTimestamp != nil:
			if p == nil || !p.stopping {
				a.terminate(ctx, key, pod, p)
			}
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		case p == nil || p.uid != string(pod.UID):
			if err := a.run(ctx, key, pod); err != nil {
				a.fail(ctx, pod, err)
			}
		case !p.ready:
			a.probe(ctx, key, pod, p)
		default:
			select {
			case <-p.exited:
				a.fail(ctx, pod, fmt.Errorf("the process exited (log: %s)", a.logPath(pod)))
			default:
			}
		}
	}
	// A pod removed without a deletion we saw (a force delete): stop its process.
	a.mu.Lock()
	var gone []*podProcess
	for key, p := range a.pods {
		if !seen[key] && !p.stopping {
			p.stopping = true
			gone = append(gone, p)
			delete(a.pods, key)
		}
	}
	a.mu.Unlock()
	for _, p := range gone {
		a.done.Go(func() { stop(p, 10*time.Second) })
	}
}

func (a *Agent) logPath(pod *corev1.Pod) string {
	return filepath.Join(a.opts.LogDir, pod.Namespace+"_"+pod.Name+".log")
}

// run starts a pod's process and reports it Running (not yet Ready).
func (a *Agent) run(ctx context.Context, key string, pod *corev1.Pod) error {
	if len(pod.Spec.Containers) == 0 {
		return errors.New("the pod has no container")
	}
	a.mu.Lock()
	a.nextIP++
	n := a.nextIP
	a.mu.Unlock()
	ip := fmt.Sprintf("127.%d.%d.%d", a.opts.Subnet, n/250, n%250+1)
	c := pod.Spec.Containers[0]
	env, err := resolveEnv(ctx, a.client, pod, &c, ip)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(a.logPath(pod), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := append(append([]string{}, c.Command...), c.Args...)
	cmd := exec.Command(a.opts.Binary, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(logFile, "# pod %s (%s) as %s at %s\n", key, pod.UID, a.opts.Binary, ip)
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", a.opts.Binary, err)
	}
	p := &podProcess{uid: string(pod.UID), ip: ip, cmd: cmd, exited: make(chan struct{}), started: metav1.Now()}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	a.mu.Lock()
	old := a.pods[key]
	a.pods[key] = p
	a.mu.Unlock()
	if old != nil {
		a.done.Go(func() { stop(old, 10*time.Second) })
	}
	return a.report(ctx, pod, p, false, "")
}

// probe runs the container's readiness probe (an HTTP GET, or a TCP connect
// to its first port, or none) and reports the pod Ready once it passes.
func (a *Agent) probe(ctx context.Context, key string, pod *corev1.Pod, p *podProcess) {
	select {
	case <-p.exited:
		a.fail(ctx, pod, fmt.Errorf("the process exited before it was ready (log: %s)", a.logPath(pod)))
		return
	default:
	}
	if err := readiness(pod.Spec.Containers[0], p.ip); err != nil {
		return
	}
	if err := a.report(ctx, pod, p, true, ""); err == nil {
		a.mu.Lock()
		if a.pods[key] == p {
			p.ready = true
		}
		a.mu.Unlock()
	}
}

// readiness checks the container's readiness at ip.
func readiness(c corev1.Container, ip string) error {
	port := 0
	if len(c.Ports) > 0 {
		port = int(c.Ports[0].ContainerPort)
	}
	if rp := c.ReadinessProbe; rp != nil && rp.HTTPGet != nil {
		if p := rp.HTTPGet.Port.IntValue(); p > 0 {
			port = p
		}
		hc := &http.Client{Timeout: time.Second}
		resp, err := hc.Get("http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + rp.HTTPGet.Path)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("readiness: %s", resp.Status)
		}
		return nil
	}
	if port == 0 {
		return nil
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), time.Second)
	if err != nil {
		return err
	}
	return conn.Close()
}

// report writes the pod's status: Running at its IP, Ready or not.
func (a *Agent) report(ctx context.Context, pod *corev1.Pod, p *podProcess, ready bool, message string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := a.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if string(cur.UID) != p.uid || cur.DeletionTimestamp != nil {
			return nil
		}
		now := metav1.Now()
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		cur.Status.Phase = corev1.PodRunning
		cur.Status.HostIP, cur.Status.HostIPs = "127.0.0.1", []corev1.HostIP{{IP: "127.0.0.1"}}
		cur.Status.PodIP, cur.Status.PodIPs = p.ip, []corev1.PodIP{{IP: p.ip}}
		cur.Status.StartTime = &p.started
		cur.Status.Message = message
		for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			s := status
			if t == corev1.PodInitialized {
				s = corev1.ConditionTrue
			}
			setCondition(&cur.Status, t, s, now)
		}
		c := cur.Spec.Containers[0]
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: c.Name, Image: c.Image, ImageID: "navius-node-agent://" + a.opts.Binary,
			ContainerID: "process://" + strconv.Itoa(p.cmd.Process.Pid),
			Ready:       ready, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: p.started}},
		}}
		_, err = a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, s corev1.ConditionStatus, now metav1.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			if st.Conditions[i].Status != s {
				st.Conditions[i].Status, st.Conditions[i].LastTransitionTime = s, now
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now})
}

// fail reports a pod whose process could not start or exited: phase Failed
// (restartPolicy is not honoured: the lab's pods are not expected to exit),
// so that its ReplicaSet replaces it.
func (a *Agent) fail(ctx context.Context, pod *corev1.Pod, cause error) {
	_ = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := a.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Phase = corev1.PodFailed
		cur.Status.Reason = "NodeAgentFailed"
		cur.Status.Message = cause.Error()
		setCondition(&cur.Status, corev1.PodReady, corev1.ConditionFalse, metav1.Now())
		_, err = a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// terminate stops a deleted pod's process and removes the pod, as a kubelet
// does once its containers have exited.
func (a *Agent) terminate(ctx context.Context, key string, pod *corev1.Pod, p *podProcess) {
	grace := 10 * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil && time.Duration(*g)*time.Second < grace {
		grace = time.Duration(*g) * time.Second
	}
	if p != nil {
		a.mu.Lock()
		p.stopping = true
		a.mu.Unlock()
	}
	uid := pod.UID
	name, ns := pod.Name, pod.Namespace
	a.done.Go(func() {
		if p != nil {
			stop(p, grace)
		}
		a.mu.Lock()
		if a.pods[key] == p {
			delete(a.pods, key)
		}
		a.mu.Unlock()
		err := a.client.CoreV1().Pods(ns).Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			fmt.Fprintf(os.Stderr, "nodeagent: removing pod %s: %v\n", key, err)
		}
	})
}

// stop sends SIGTERM to the process group, SIGKILL after grace.
func stop(p *podProcess, grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// Running is a running pod's process, as the agent sees it.
type Running struct {
	Namespace, Name, UID, IP string
	PID                      int
	Ready                    bool
}

// Pods lists the pods the agent runs, sorted by namespace and name.
func (a *Agent) Pods() []Running {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Running, 0, len(a.pods))
	for key, p := range a.pods {
		if p.stopping {
			continue
		}
		ns, name, _ := cutKey(key)
		out = append(out, Running{Namespace: ns, Name: name, UID: p.uid, IP: p.ip, PID: p.cmd.Process.Pid, Ready: p.ready})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

func cutKey(key string) (string, string, bool) {
	for i := range len(key) {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", key, false
}

// Stop stops every pod's process (their pods stay) and the agent.
func (a *Agent) Stop() {
	a.cancel()
	a.mu.Lock()
	procs := make([]*podProcess, 0, len(a.pods))
	for _, p := range a.pods {
		procs = append(procs, p)
	}
	a.pods = map[string]*podProcess{}
	a.mu.Unlock()
	for _, p := range procs {
		a.done.Go(func() { stop(p, 5*time.Second) })
	}
	a.done.Wait()
}
