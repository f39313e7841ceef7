//go:build integration

package builtins

import (
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/monsta/monsta/internal/testkit/ittest"
	"github.com/monsta/monsta/internal/testkit/loopback"
)

// TestScriptRunsNagiosPlugins runs Debian's check_tcp and check_disk
// (.ci/servers.d/plugins.sh) through the script check and reads their
// performance data.
func TestScriptRunsNagiosPlugins(t *testing.T) {
	dir := ittest.Env(t, "MONSTA_IT_PLUGINS")
	open := loopback.Serve(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	closed := closedPort(t)
	tests := []struct {
		name      string
		command   string
		wantErr   string
		wantStats []string
	}{
		{name: "check_tcp OK", command: filepath.Join(dir, "check_tcp") + " -H 127.0.0.1 -p " + loopback.PortString(open),
			wantStats: []string{"time_seconds"}},
		{name: "check_tcp CRITICAL", command: filepath.Join(dir, "check_tcp") + " -H 127.0.0.1 -p " + closed,
			wantErr: `exit code 2; output: "connect to address 127.0.0.1 and port ` + closed + `: Connection refused"`},
		{name: "check_disk on /", command: filepath.Join(dir, "check_disk") + " -w 0% -c 0% -p /",
			wantStats: []string{"/_bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newTestCheck(t, scriptDescriptor(), map[string]string{"command": tt.command})
			if err != nil {
				t.Fatal(err)
			}
			stats, _ := runWantErr(t, c, 20*time.Second, tt.wantErr)
			t.Logf("stats %v", stats)
			for _, k := range tt.wantStats {
				if v, ok := stats[k]; !ok || v < 0 {
					t.Errorf("stats[%q] = %v (set: %v), want a value of at least 0; stats %v", k, v, ok, stats)
				}
			}
		})
	}
}
