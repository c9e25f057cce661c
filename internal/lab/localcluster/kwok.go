package localcluster

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kwokStages are the Stage objects kwok runs nodes and pods with (see
// kwokstages/README.md).
//
//go:embed kwokstages/*.yaml
var kwokStages embed.FS

// Fake nodes carry this annotation (kwok manages the nodes that have it), this
// label and a NoSchedule taint with this key and value.
const (
	FakeNodeAnnotation = "kwok.x-k8s.io/node"
	FakeNodeTaintKey   = "kwok.x-k8s.io/node"
	FakeNodeValue      = "fake"
	FakeNodeLabel      = "type"
	FakeNodeLabelValue = "kwok"
	// FakeNodePrefix starts the name of every fake node; a number follows.
	FakeNodePrefix = "kwok-node-"
	// podCIDR is the range kwok assigns pod IPs from.
	podCIDR = "10.244.0.0/16"
)

// FakeNodeToleration is the toleration pods need to be scheduled onto the
// fake nodes.
func FakeNodeToleration() corev1.Toleration {
	return corev1.Toleration{
		Key:      FakeNodeTaintKey,
		Operator: corev1.TolerationOpEqual,
		Value:    FakeNodeValue,
		Effect:   corev1.TaintEffectNoSchedule,
	}
}

// writeKwokStages writes the embedded stages, as one multi-document YAML file,
// to path.
func writeKwokStages(path string) error {
	entries, err := kwokStages.ReadDir("kwokstages")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, e := range entries {
		data, err := kwokStages.ReadFile("kwokstages/" + e.Name())
		if err != nil {
			return err
		}
		buf.WriteString("---\n")
		buf.Write(bytes.TrimRight(data, "\n"))
		buf.WriteString("\n")
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// fakeNode returns the i-th fake node with the capacity of o.
func (o Options) fakeNode(i int) *corev1.Node {
	name := FakeNodePrefix + strconv.Itoa(i)
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    o.NodeCPU,
		corev1.ResourceMemory: o.NodeMemory,
		corev1.ResourcePods:   *resource.NewQuantity(int64(o.NodeMaxPods), resource.DecimalSI),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				FakeNodeLabel:            FakeNodeLabelValue,
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
			Annotations: map[string]string{
				FakeNodeAnnotation:             FakeNodeValue,
				"node.alpha.kubernetes.io/ttl": "0",
			},
		},
		Spec: corev1.NodeSpec{
			Taints: []corev1.Taint{{Key: FakeNodeTaintKey, Value: FakeNodeValue, Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

// createFakeNodes creates the fake nodes.
func (c *Cluster) createFakeNodes(ctx context.Context) error {
	for i := range c.opts.Nodes {
		if err := c.client.Create(ctx, c.opts.fakeNode(i)); err != nil {
			return fmt.Errorf("creating fake node: %w", err)
		}
	}
	return nil
}

// fakeNodesReady reports an error until every fake node is Ready.
func (c *Cluster) fakeNodesReady(ctx context.Context) error {
	var nodes corev1.NodeList
	if err := c.client.List(ctx, &nodes, client.MatchingLabels{FakeNodeLabel: FakeNodeLabelValue}); err != nil {
		return err
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready < c.opts.Nodes {
		return fmt.Errorf("%d of %d fake nodes ready", ready, c.opts.Nodes)
	}
	return nil
}
