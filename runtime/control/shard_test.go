package control

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/monsta/monsta/runtime"
	"github.com/monsta/monsta/runtime/engine"
)

// TestViewShowsShard: the API tells tests of other shards and the ones run
// only for this shard's dependencies.
func TestViewShowsShard(t *testing.T) {
	t.Parallel()
	out := NewTest(engine.TestStatus{Name: "web", Interval: time.Minute, Shard: runtime.ShardOut})
	if out.State != StateOutOfShard || out.Shard != "out" {
		t.Errorf("out-of-shard test: state %q, shard %q; want %s, out", out.State, out.Shard, StateOutOfShard)
	}
	dep := NewTest(engine.TestStatus{Name: "gw", LastRun: time.Now(), LastOK: true, Shard: runtime.ShardDependency})
	if dep.State != StateOK || dep.Shard != "dependency" {
		t.Errorf("dependency: state %q, shard %q; want OK, dependency", dep.State, dep.Shard)
	}
	b, _ := json.Marshal(NewTest(engine.TestStatus{Name: "own"}))
	if strings.Contains(string(b), `"shard"`) {
		t.Errorf("own test JSON %s names a shard; want none", b)
	}
}
