// Command etcd is the etcd server, pinned by this module's go.mod, for the
// local control plane that the tests, the demo and the benchmarks run.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
