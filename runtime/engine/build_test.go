package engine

import (
	"testing"

	"github.com/monsta/monsta/runtime"
)

// TestNewBuildsNoChecks: the plan carries every check instance, built once
// by resolution; New uses them and builds none again.
func TestNewBuildsNoChecks(t *testing.T) {
	reg := runtime.NewRegistry()
	built := 0
	if err := reg.Add(runtime.Descriptor{Kind: runtime.KindCheck, Name: "fake", Description: "counts its builds",
		NewCheck: func(*runtime.Options) (runtime.Check, error) { built++; return &scriptedCheck{}, nil }}); err != nil {
		t.Fatal(err)
	}
	reg.Freeze()
	p := loadPlan(t, reg, "[Check_a]\ntype=fake\n[Check_b]\ntype=fake\n[Test_x]\nchecks=a\n[Test_y]\nchecks=a\n")
	before := built
	if before == 0 {
		t.Fatal("resolution built no checks")
	}
	e, err := New(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(t.Context())
	if built != before {
		t.Errorf("New built checks again: %d builds after resolution's %d", built, before)
	}
	if e.tests[0].checks[0] != p.Tests[0].Instances[0] {
		t.Error("the engine does not run the plan's instance of Check_a")
	}
}
